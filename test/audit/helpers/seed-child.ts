// Seeds an embedded warehouse in its own process (the test process must not hold the data path
// the measured export opens): node --import tsx seed-child.ts PATH DATABASE ROWS END_MS
import { WarehouseSection } from '../../../services/warehouse/config.ts';
import { createWarehouse } from '../../../services/warehouse/warehouse.ts';
import { migrate } from '../../../services/warehouse/migrate.ts';
import { createHasher } from '../../../services/telemetry/hash.ts';
import { insertKnownRows, seedRequests } from '../../../bench/audit/seed.ts';
import { HASHING } from '../helpers.ts';

const [path, database, rows, end] = process.argv.slice(2);
const cfg = WarehouseSection.parse({ engine: 'embedded', path, database, retention: { requests: 60 } });
const wh = await createWarehouse(cfg);
await migrate(wh, { retention: cfg.retention });
await seedRequests(wh, { rows: Number(rows), endMs: Number(end) });
await insertKnownRows(wh, createHasher(HASHING), Number(end));
const n = await wh.query<{ n: string }>('SELECT toString(count()) AS n FROM {db}.requests');
await wh.close();
process.stdout.write(`${n[0]!.n}\n`);
