import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REQUESTS } from '../../services/audit/request-queries.ts';
import { TelemetryEventSchema } from '../../services/telemetry/event.ts';

/** Output names of a SELECT list (`expr AS name` or a bare column). */
function outputNames(select: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= select.length; i++) {
    const c = select[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if ((c === ',' && depth === 0) || i === select.length) {
      const item = select.slice(start, i).trim();
      out.push(/\bAS\s+(\w+)$/i.exec(item)?.[1] ?? item);
      start = i + 1;
    }
  }
  return out;
}

test('audit request rows carry every field of the event contract, in JSON and in CSV', () => {
  const fields = Object.keys(TelemetryEventSchema.shape).sort();
  for (const [name, select] of [['json', REQUESTS.select], ['csv', REQUESTS.flatSelect]] as const) {
    const names = new Set(outputNames(select));
    const missing = fields.filter((f) => !names.has(f));
    assert.deepEqual(missing, [], `${name} rows lack ${missing.join(', ')}`);
  }
});
