/**
 * Starts the OpenTelemetry Node SDK for the gateway process: traces only, no
 * auto-instrumentation, no metrics or log exporters, no global propagator (the gateway
 * propagates `traceparent` itself). The sampler is AlwaysOn because the gateway decides sampling
 * before it starts a span (tracing.ts). Exporters: `console`, or `otlp` (OTLP/HTTP JSON).
 */
import { NodeSDK } from '@opentelemetry/sdk-node';
import { AlwaysOnSampler, BatchSpanProcessor, ConsoleSpanExporter, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { trace, type TracerProvider } from '@opentelemetry/api';
import type { GatewayConfig } from '../config.ts';

/** A started SDK. */
export interface TracingSdk {
  /** The provider to pass to startGateway (undefined when the exporter is `none`). */
  provider: TracerProvider | undefined;
  /** Flushes and stops exporting. */
  shutdown(): Promise<void>;
}

async function exporterFor(cfg: GatewayConfig['tracing']): Promise<SpanExporter | undefined> {
  switch (cfg.exporter) {
    case 'none':
      return undefined;
    case 'console':
      return new ConsoleSpanExporter();
    case 'otlp': {
      // A dependency of @opentelemetry/sdk-node, loaded only when asked for.
      const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
      return new OTLPTraceExporter({ url: cfg.otlpUrl });
    }
  }
}

/** Starts the SDK as the tracing config asks (a no-op for `none`). */
export async function startTracingSdk(cfg: GatewayConfig['tracing']): Promise<TracingSdk> {
  const exporter = await exporterFor(cfg);
  if (!exporter) return { provider: undefined, shutdown: async () => {} };
  const sdk = new NodeSDK({
    serviceName: cfg.serviceName,
    autoDetectResources: false,
    instrumentations: [],
    textMapPropagator: null,
    metricReaders: [],
    logRecordProcessors: [],
    sampler: new AlwaysOnSampler(),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  sdk.start();
  return { provider: trace.getTracerProvider(), shutdown: () => sdk.shutdown() };
}
