# One image for every mlgate service (gateway, ingester, controller, audit, migrate) and the
# compose stack's stand-in model servers and load generator. The sources run through tsx (as
# `npm start` does), so the image installs the lockfile as is, dev dependencies included.
#   docker build -t mlgate .
#   docker run --rm mlgate gateway --config /etc/mlgate/mlgate.yml
FROM node:20-slim

WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund && npm cache clean --force

COPY . .
RUN mkdir -p /var/lib/mlgate && chown -R node:node /var/lib/mlgate

ENV NODE_ENV=production \
    MLGATE_DATA_DIR=/var/lib/mlgate
USER node
VOLUME ["/var/lib/mlgate"]
# 8080 gateway, 8081 gateway admin and /metrics, 9465 ingester /metrics, 9466 controller API and
# /metrics, 8790 audit API.
EXPOSE 8080 8081 9465 9466 8790
ENTRYPOINT ["node", "bin/mlgate.mjs"]
CMD ["help"]
