/**
 * A bound on how deep a JSON document may nest before anything parses it. V8's `JSON.parse` of
 * a 1 MiB body nested 500,000 levels deep (`[[[[...]]]]`) takes about half a second on one
 * thread, and every recursive walk of the result (canonical hashing, redaction) then overflows
 * the stack. Real payloads nest a few levels (an OpenAI tool schema: about 10), so documents
 * deeper than {@link MAX_JSON_DEPTH} are not parsed at all: the gateway answers 400, telemetry
 * treats the body as bytes and text, the ingester dead-letters the message.
 */

/** Deepest nesting of arrays and objects a parsed JSON document may have. */
export const MAX_JSON_DEPTH = 128;

/**
 * True when `text` holds at most `max` opening brackets in all, strings included, so it cannot
 * nest deeper than `max`: most documents, found by indexOf alone, without reading them.
 */
function fewOpenings(text: string, max: number): boolean {
  let n = 0;
  for (const bracket of ['[', '{']) {
    for (let i = text.indexOf(bracket); i >= 0; i = text.indexOf(bracket, i + 1)) if (++n > max) return false;
  }
  return true;
}

/**
 * True when `text` nests arrays and objects more than `max` levels deep (brackets inside strings
 * do not count). One pass over the text, stopping as soon as the bound is passed; a text too
 * short to nest that deep is not scanned.
 */
export function jsonTooDeep(text: string, max = MAX_JSON_DEPTH): boolean {
  if (text.length <= 2 * max || fewOpenings(text, max)) return false;
  let depth = 0;
  let slash = text.indexOf('\\');
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      // A string without escapes is skipped with indexOf, at native speed; one with escapes is
      // read a character at a time, as the parser does. `slash` (the next backslash, -1 for
      // none) moves forward only, so all the indexOf calls together read the text once.
      const q = text.indexOf('"', i + 1);
      if (q < 0) return false;
      if (slash !== -1 && slash <= i) slash = text.indexOf('\\', i + 1);
      if (slash === -1 || slash > q) {
        i = q;
        continue;
      }
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > max) return true;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      depth--;
    }
  }
  return false;
}

/** `JSON.parse`, refusing a document nested deeper than `max` with a SyntaxError that says so. */
export function parseJsonBounded(text: string, max = MAX_JSON_DEPTH): unknown {
  if (jsonTooDeep(text, max)) throw new SyntaxError(`JSON nested deeper than ${max} levels`);
  return JSON.parse(text) as unknown;
}
