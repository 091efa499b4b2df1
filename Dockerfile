# One image for every mlgate service (gateway, ingester, controller, audit, migrate), built in
# stages so the image that runs holds only what runs: the compiled JavaScript (dist/), the
# production dependencies and the default configs, as a non-root user.
#   docker build -t mlgate .
#   docker run --rm mlgate gateway --config /etc/mlgate/mlgate.yml
# The `build` stage (sources, dev dependencies, tsx) doubles as the image of the compose stack's
# stand-in model servers and load generator (`docker build --target build -t mlgate-tools .`).

# Stage 1: dev dependencies and sources; tsc emits dist/ (services/ and demo/, which `mlgate demo`
# and the load generator import).
FROM node:20-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY services ./services
COPY demo ./demo
COPY bin ./bin
COPY config ./config
COPY deploy ./deploy
COPY scripts ./scripts
RUN npm run build

# Stage 2: production dependencies only (no tsx, typescript, eslint or test tools).
FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Stage 3: what runs.
FROM node:20-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    MLGATE_DATA_DIR=/var/lib/mlgate
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY config/mlgate.yaml ./config/mlgate.yaml
COPY deploy/mlgate.yml ./deploy/mlgate.yml
COPY --from=build /src/dist ./dist
RUN mkdir -p /var/lib/mlgate && chown -R node:node /var/lib/mlgate
# The image's user: uid 1000 (`node`), owning only the data directory.
USER node
VOLUME ["/var/lib/mlgate"]
# 8080 gateway, 8081 gateway admin and /metrics, 9465 ingester /metrics, 9466 controller API and
# /metrics, 8790 audit API.
EXPOSE 8080 8081 9465 9466 8790
ENTRYPOINT ["node", "bin/mlgate.mjs"]
CMD ["help"]
