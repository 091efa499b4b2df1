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
 * True when `text` nests arrays and objects more than `max` levels deep (brackets inside strings
 * do not count). One pass over the text, stopping as soon as the bound is passed; a text too
 * short to nest that deep is not scanned.
 */
export function jsonTooDeep(text: string, max = MAX_JSON_DEPTH): boolean {
  if (text.length <= 2 * max) return false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      // Skip the string: to the next quote after an even number of backslashes (indexOf jumps
      // through a long string at native speed; each backslash is counted for one quote only).
      let j = i;
      for (;;) {
        j = text.indexOf('"', j + 1);
        if (j < 0) return false;
        let b = 0;
        while (text.charCodeAt(j - 1 - b) === 0x5c /* \ */) b++;
        if ((b & 1) === 0) break;
      }
      i = j;
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
