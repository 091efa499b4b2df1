/**
 * Live producer for the freshness phase, run as its own process (a gateway is not in the
 * ingester's process either): `node --import tsx bench/pipeline/producer.ts <brokers> <topic> <n> <rate>`.
 * Prints the JSON bytes sent when done.
 */
import { benchKafka, produceEvents } from './phases.ts';

const [brokers, topic, n, rate] = process.argv.slice(2);
if (!brokers || !topic || !n || !rate) {
  console.error('usage: producer.ts <brokers> <topic> <n> <rate>');
  process.exit(2);
}
const bytes = await produceEvents(benchKafka(brokers.split(',')), topic, Number(n), Number(rate));
console.log(JSON.stringify({ bytes }));
