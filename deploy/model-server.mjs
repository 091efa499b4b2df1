// A stand-in model version for the docker-compose stack: the demo's model server
// (services/embedded/stand-in/model-server.ts: AFINN or VADER sentiment, POST /predict, GET /healthz) listening
// on all interfaces of its container (--host 0.0.0.0, the default).
//   node --import tsx deploy/model-server.mjs --name v1 --model afinn [--host 0.0.0.0] [--port 8000]
//        [--median-ms 8 --p95-ms 20] [--error-rate 0] [--extra-latency-ms 0]
import { parseArgs } from 'node:util';
import { startModelServer } from '../services/embedded/stand-in/model-server.ts';

const { values } = parseArgs({
  options: {
    name: { type: 'string' }, host: { type: 'string', default: '0.0.0.0' }, model: { type: 'string', default: 'afinn' }, port: { type: 'string', default: '8000' },
    'median-ms': { type: 'string', default: '8' }, 'p95-ms': { type: 'string', default: '20' },
    'error-rate': { type: 'string', default: '0' }, 'extra-latency-ms': { type: 'string', default: '0' },
  },
  strict: true,
});
if (!values.name) {
  console.error('usage: node --import tsx deploy/model-server.mjs --name NAME --model afinn|vader|fixed [--port 8000] ...');
  process.exit(2);
}
const server = await startModelServer({
  name: values.name, model: values.model, host: values.host, port: Number(values.port),
  latency: { medianMs: Number(values['median-ms']), p95Ms: Number(values['p95-ms']) },
  errorRate: Number(values['error-rate']), extraLatencyMs: Number(values['extra-latency-ms']),
});
console.log(JSON.stringify({ msg: 'model server listening', name: server.name, model: values.model, port: Number(values.port) }));
const stop = () => { server.close().then(() => process.exit(0), () => process.exit(1)); };
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
