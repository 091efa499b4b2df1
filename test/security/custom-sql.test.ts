/**
 * custom_sql's static check (services/controller/service/providers/custom-sql.ts): one SELECT over
 * {db}.requests and {db}.requests_1m, tokenized the way ClickHouse reads it. Each bypass an
 * operator could try (comment and string tricks, nested comments, heredocs, look-alike letters,
 * table functions, other databases, SETTINGS, INTO OUTFILE, FORMAT, DML in a CTE) is refused with
 * a message naming the problem, and the queries of the docs and the provider tests still pass.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkCustomSql } from '../../services/controller/service/providers/custom-sql.ts';
import { tokenize } from '../../services/controller/service/providers/sql-lexer.ts';

const WIN = "ts >= {from:DateTime64(3, 'UTC')} AND ts < {to:DateTime64(3, 'UTC')}";
const ARM = `model = {model:String} AND version = {version:String} AND role IN ('stable', 'canary') AND ${WIN}`;

/** Queries an operator legitimately writes: accepted, returned without a trailing ';' or comment. */
const GOOD = [
  `SELECT avg(latency_ms) FROM {db}.requests WHERE ${ARM}`,
  `SELECT avg(response_bytes) FROM {db}.requests\nWHERE ${ARM}`,
  `select countIf(outcome = 'timeout') / count() from {db}.requests where ${ARM}`,
  `WITH t AS (SELECT latency_ms FROM {db}.requests WHERE ${ARM}) SELECT quantile(0.9)(latency_ms) FROM t`,
  `WITH ['a', 'b'] AS labels SELECT countIf(prediction_label IN labels) FROM {db}.requests WHERE ${ARM}`,
  `SELECT sum(requests) FROM {db}.requests_1m WHERE model = {model:String} AND version = {version:String}
     AND minute >= toStartOfMinute(fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')) AND rollout_id = {rollout_id:String}`,
  `SELECT quantileTDigestMerge(0.99)(latency_q) FROM {db}.requests_1m AS m WHERE m.model = {model:String}`,
  `SELECT count() FROM {db}.requests AS s INNER JOIN (SELECT toString(event_id) AS id FROM {db}.requests WHERE ${ARM}) AS p ON s.correlation_id = p.id`,
  `SELECT count() FROM {db}.requests WHERE event_id IN (SELECT event_id FROM {db}.requests_1m) AND toYear(ts) = extract(YEAR FROM now())`,
  `SELECT countIf(outcome IN ('timeout', 'upstream_error')) / count() FROM {db}.requests WHERE status NOT IN (1, 2) AND version IN ({version:String})`,
  `SELECT trim(BOTH ' ' FROM toString(outcome)) AS o, substring(route FROM 2) FROM {db}.requests WHERE position(route IN 'abc') > 0 LIMIT 1`,
  `SELECT avg(x) FROM (SELECT latency_ms AS x FROM {db}.requests ARRAY JOIN [1, 2] AS a, [3] AS b WHERE ${ARM})`,
  `SELECT 1e-5 * sum(latency_ms), 0x1F, .5, "latency_ms", \`route\` FROM {db}.requests -- the mean\n/* nested /* comment */ ok */ # hash comment\n`,
  `SELECT format('{}-{}', model, version), 'it''s', 'back\\'slash' FROM {db}.requests;`,
];

test('custom_sql check: legitimate queries pass, trailing ; and comments dropped', () => {
  for (const sql of GOOD) assert.doesNotThrow(() => checkCustomSql(sql), sql);
  assert.equal(checkCustomSql("SELECT count() FROM {db}.requests WHERE route = 'a;b'; -- done"), "SELECT count() FROM {db}.requests WHERE route = 'a;b'");
  // A \r does not end a -- comment for ClickHouse: all of this is one comment, and is not run.
  assert.equal(checkCustomSql('SELECT 1 -- x\r; DROP TABLE {db}.canary_decisions'), 'SELECT 1');
  // \' does not end a string: this is one string literal.
  assert.doesNotThrow(() => checkCustomSql("SELECT 'a\\'; DROP TABLE {db}.canary_decisions; SELECT '"));
});

/** [sql, what the message must name]. */
const BAD: Array<[string, RegExp]> = [
  // Several statements, hidden from a check that ignores comments or misreads strings.
  ["SELECT 1 -- '\n; CREATE TABLE x (a UInt8) ENGINE = Memory; SELECT 1 --'", /single statement \(found ';'/],
  ["SELECT 1 # '\n; DROP TABLE {db}.canary_decisions; SELECT 1 # '", /single statement/],
  ["SELECT 1 #! '\n; DROP TABLE {db}.canary_decisions", /single statement/],
  ["SELECT 1 /* /* */ '*/; DROP TABLE {db}.canary_decisions; -- '", /single statement/],
  ['SELECT 1 /* /* */ ; DROP TABLE {db}.canary_decisions; /* */', /unclosed \/\* comment/],
  ['SELECT 1 FROM (SELECT 1) AS a, system.users', /',' in FROM system\.users/],
  ["SELECT 'a\\\\'; DROP TABLE {db}.canary_decisions; SELECT 'b'", /single statement/],
  ["SELECT 'it''s'; DROP TABLE {db}.canary_decisions", /single statement/],
  ['SELECT `a``; DROP TABLE x` ; DROP TABLE {db}.canary_decisions', /single statement/],
  ['SELECT "a"";"; DROP TABLE {db}.canary_decisions', /single statement/],
  ['SELECT 0x1e--1\n; DROP TABLE {db}.canary_decisions', /single statement/],
  ["SELECT $$'$$; DROP TABLE {db}.canary_decisions; SELECT $$'$$", /'\$' \(heredoc/],
  ['SELECT 1 /* unclosed', /unclosed \/\* comment/],
  ["SELECT 'unclosed", /unclosed string/],
  ['SELECT 1 #no-space', /'#' that does not start a comment/],
  // Not a SELECT; DML inside a CTE; case games.
  ['DROP TABLE {db}.requests', /must be a SELECT/],
  ['  -- hi\n  INSERT INTO {db}.requests SELECT * FROM {db}.requests', /must be a SELECT/],
  ['WITH x AS (DELETE FROM {db}.requests WHERE 1) SELECT 1', /contains DELETE/],
  ['sElEcT 1; dRoP TABLE {db}.requests', /single statement/],
  ['SELECT * fRoM system.users', /FROM system\.users: only \{db\}\.requests and \{db\}\.requests_1m may be read \(system tables are refused\)/],
  // Look-alikes and odd characters.
  ['ЅELECT 1', /non-ASCII character U\+0405/],
  ['SELECT\u00a01', /non-ASCII character U\+00A0/],
  ['SELECT 1\uff1b DROP TABLE x', /non-ASCII character U\+FF1B/],
  ['SELECT 1\0; DROP TABLE x', /control character U\+0000/],
  ['SELECT * FROM {db}.`requ\\x65sts`', /backslash escape in a quoted identifier/],
  // Tables: other databases, system tables, bare names, table functions, IN table.
  ['SELECT * FROM system.users', /system tables are refused/],
  ['SELECT * FROM `system`.`users`', /FROM system\.users/],
  ['SELECT * FROM otherdb.t', /FROM otherdb\.t: .*other databases are refused/],
  ['SELECT * FROM {db}.canary_decisions', /FROM \{db\}\.canary_decisions: only \{db\}\.requests and \{db\}\.requests_1m may be read/],
  ['SELECT * FROM {db}.admin_changes', /admin_changes/],
  ['SELECT avg(tokens_out) FROM requests', /FROM requests: write \{db\}\.requests/],
  ['SELECT * FROM users', /FROM users: only/],
  ['SELECT * FROM {db}.requests AS r JOIN system.tables AS t ON 1', /JOIN system\.tables/],
  ['SELECT * FROM {db}.requests, system.tables', /',' in FROM system\.tables/],
  ['SELECT * FROM {db}.requests WHERE model IN system.users', /IN system\.users reads a table/],
  ['SELECT * FROM {db}.requests WHERE model IN users', /IN users would read a table/],
  ['SELECT (SELECT name FROM system.users LIMIT 1)', /FROM system\.users/],
  ['WITH users AS (SELECT 1) SELECT * FROM (SELECT * FROM users), (SELECT 1 FROM secrets)', /FROM secrets/],
  ["SELECT * FROM file('/etc/passwd')", /FROM file\(…\): table functions are refused/],
  ["SELECT * FROM url('http://127.0.0.1:9/x', 'LineAsString')", /FROM url\(…\): table functions are refused/],
  ["SELECT * FROM numbers(10)", /FROM numbers\(…\): table functions are refused/],
  ["SELECT * FROM {db}.requests AS r JOIN generateRandom('a UInt8') AS g ON 1", /JOIN generateRandom\(…\): table functions are refused/],
  ["SELECT file('/etc/mlgate/config.yaml')", /calls file\(\)/],
  ["SELECT `file`('/etc/passwd')", /calls file\(\)/],
  ["SELECT count() FROM {db}.requests WHERE model IN (SELECT * FROM remoteSecure('h', 'system', 'users'))", /FROM remoteSecure\(…\): table functions are refused/],
  ["SELECT count() FROM {db}.requests WHERE model IN remote('h', 'system', 'users')", /calls remote\(\)/],
  ["SELECT dictGet('secrets', 'v', 1)", /calls dictGet\(\)/],
  ["SELECT joinGet('db.t', 'v', 1)", /calls joinGet\(\)/],
  ['SELECT in(1, system.users)', /IN \(… system\.users …\) reads a table/],
  ['SELECT 1 IN (2, users)', /IN \(… users …\) would read a table/],
  ['SELECT notIn(1, users)', /calls notIn\(\)/],
  ["SELECT * FROM 'data.csv'", /FROM must be followed by a table/],
  ['SELECT * FROM {name:Identifier}', /cannot name a table|unknown parameter/],
  ['SELECT * FROM {db}.requests WHERE model = {model:Identifier}', /must not have the type Identifier/],
  ['SELECT {secret:String}', /unknown parameter \{secret\}/],
  // Settings, output, files.
  ['SELECT 1 SETTINGS readonly = 0', /must not carry SETTINGS/],
  ['SELECT 1 sEtTiNgS max_execution_time = 0', /must not carry SETTINGS/],
  ["SELECT * FROM {db}.requests INTO OUTFILE '/tmp/x'", /INTO OUTFILE/],
  ['SELECT * FROM {db}.requests FORMAT TSV', /FORMAT/],
  ['SELECT 1)', /unmatched '\)'/],
  ['SELECT (1', /unclosed parenthesis/],
];

test('custom_sql check: every bypass is refused with a message naming the problem', () => {
  for (const [sql, msg] of BAD) {
    assert.throws(() => checkCustomSql(sql, 'metrics.0.sql'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'MLG_CTL_CUSTOM_SQL_INVALID', sql);
      assert.match(err.message, /metrics\.0\.sql: /, sql);
      assert.match(err.message, msg, `${JSON.stringify(sql)} -> ${err.message}`);
      return true;
    }, sql);
  }
});

test('sql lexer: comments, strings and numbers end where ClickHouse ends them', () => {
  const texts = (sql: string) => tokenize(sql).map((t) => t.text);
  assert.deepEqual(texts('SELECT 1 -- a \r b\nc'), ['SELECT', '1', 'c']);
  assert.deepEqual(texts('a /* x /* y */ z */ b'), ['a', 'b']);
  assert.deepEqual(texts("'a\\'b' 'c''d' x"), ["'a\\'b'", "'c''d'", 'x']);
  assert.deepEqual(tokenize("'a\\'b' 'c''d'").map((t) => t.value), ["a'b", "c'd"]);
  assert.deepEqual(texts('1e-5 0x1e--1\n, .5 t.1'), ['1e-5', '0x1e', ',', '.5', 't', '.', '1']);
  assert.deepEqual(texts('1abc 0b101'), ['1abc', '0b101']);
});
