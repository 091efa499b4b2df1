/**
 * The sub-path a request forwards (what follows `/v1/models/{model}`) is appended to the
 * target's base path as is: the gateway does not normalise it, and neither does undici. An
 * upstream (or a proxy in front of it) that does would resolve `/base/../../etc/secret` outside
 * the base path, so such paths are refused before anything is chosen or sent.
 *
 * Refused: `.` and `..` segments, raw or percent-encoded in any case (`%2e%2e`, `%2E.`, `.%2e`),
 * where the separators may also be `\`, `%2f` or `%5c` (servers that decode them, or treat a
 * backslash as a slash, would see segments there), and a `%00` anywhere in the path. The query
 * string is not looked at.
 */

const ENCODED = /%(2e|2f|5c|00)/gi;
const DECODED: Readonly<Record<string, string>> = { '2e': '.', '2f': '/', '5c': '/' };
const SEPARATORS = /[/\\]/;

/**
 * Why the path (query excluded) could climb out of the target's base path, or undefined when it
 * cannot. Cheap on ordinary paths: it only decodes when a `%` or `\` is present.
 */
export function forwardedPathProblem(pathAndQuery: string): string | undefined {
  const q = pathAndQuery.indexOf('?');
  let path = q < 0 ? pathAndQuery : pathAndQuery.slice(0, q);
  if (path.includes('%') || path.includes('\\')) {
    if (/%00/.test(path)) return 'the path contains an encoded NUL byte (%00)';
    path = path.replace(ENCODED, (m) => DECODED[m.slice(1).toLowerCase()] ?? m);
  } else if (!path.includes('.')) {
    return undefined;
  }
  for (const seg of path.split(SEPARATORS)) {
    if (seg === '.' || seg === '..') return `the path contains a "${seg}" segment (raw or percent-encoded); paths must not climb out of the route`;
  }
  return undefined;
}
