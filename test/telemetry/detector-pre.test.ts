import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DETECTORS } from '../../services/telemetry/pii-detectors.ts';

// Text of digit runs with the separators and neighbours the patterns look at, and pieces of the
// other detectors' shapes: every detector's cheap `pre` test is checked against its own pattern.
const piece = fc.constantFrom('0', '00', '1', '4', '9', '12', '123', '555', '0044', '4111', '1111', '020', '7946', '0958', '01', '23', '45', '6789',
  '078-05-1120', '219 09 9999', '01 23 45 67 89', '4111 1111 1111 1111', '(555) 555-1234', '192.168.', '1.2.3.4', '10.0.0.0', '::1', 'fe80::1', 'a:b:',
  '@', 'a@b.co', '%40', 'Bearer ', 'ssn ', 'phone ', 'call me at ', 'DE89', '+44 ', 'eyJ', '-----BEGIN ',
  ' ', '-', '.', ',', '+', '/', '(', ')', ':', ';', 'a', 'x', '_', '\n', '<XX>');
const text = fc.array(piece, { maxLength: 40 }).map((a) => a.join(''));

test('a detector whose cheap pre-test refuses a text finds nothing in it (the pre-tests only skip work)', () => {
  const withPre = DETECTORS.filter((d) => d.pre && d.re);
  fc.assert(fc.property(text, (t) => {
    for (const d of withPre) {
      if (d.pre!(t)) continue;
      // Every candidate, and whether the detector's check would keep it.
      const re = new RegExp(d.re!.source, d.re!.flags);
      for (let m = re.exec(t); m; re.lastIndex = m.index + 1, m = re.exec(t)) {
        assert.equal(d.check ? d.check(m, t) : [m.index, m.index + m[0].length], null, `${d.type} ${d.re!.source} skipped on ${JSON.stringify(t)}`);
      }
    }
  }), { numRuns: 5000 });
});
