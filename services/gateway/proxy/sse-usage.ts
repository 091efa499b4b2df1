/**
 * Takes out of an OpenAI-style SSE stream what `stream_options.include_usage` added to it, for a
 * client that did not ask for usage but whose upstream the gateway asked (so the event has
 * tokens). With include_usage an upstream adds a final chunk `{"choices":[], "usage":{...}}`
 * and, OpenAI does, `"usage":null` to every other chunk. The client gets the stream it would have
 * got without: the usage chunk dropped, the `usage` member cut out of the others, every other
 * byte as the upstream sent it (the member is cut from the text, never re-serialized).
 *
 * Events are framed on their blank line; an event is held until it is complete (a client's SSE
 * parser cannot act on half an event anyway). Only events that contain `"usage"` are read at
 * all. An event that is not one JSON object passes as it is. An event longer than the limit
 * stops the stripping: it and the rest of the stream pass as they come (nothing is lost or held
 * back), and {@link UsageStripper.gaveUp} says so.
 */

/** Largest SSE event held to be rewritten (bytes). */
export const MAX_SSE_EVENT_BYTES = 1 << 20;

const USAGE = Buffer.from('"usage"');
const NULL_TAIL = Buffer.from(',"usage":null}\n\n');
const CLOSE = Buffer.from('}\n\n');
const NULL_TAIL_CRLF = Buffer.from(',"usage":null}\r\n\r\n');
const CLOSE_CRLF = Buffer.from('}\r\n\r\n');

/** Index just past the blank line (LF LF or LF CR LF) that ends the event starting at `from`, or -1. */
export function eventEnd(buf: Buffer, from: number): number {
  for (let nl = buf.indexOf(10, from); nl >= 0; nl = buf.indexOf(10, nl + 1)) {
    const c = buf[nl + 1];
    if (c === 10) return nl + 2;
    if (c === 13 && buf[nl + 2] === 10) return nl + 3;
  }
  return -1;
}

/** True when `buf` has `tail` just before `end`. */
function endsWith(buf: Buffer, end: number, tail: Buffer): boolean {
  const start = end - tail.length;
  if (start < 0) return false;
  for (let i = 0; i < tail.length; i++) if (buf[start + i] !== tail[i]) return false;
  return true;
}

/** Strips injected usage from one stream. Feed it the upstream's chunks in order. */
export class UsageStripper {
  private pending: Buffer | undefined;
  private passthrough = false;
  /** Events dropped (usage chunks) and rewritten (`usage` members cut). */
  dropped = 0;
  rewritten = 0;

  constructor(private readonly maxEvent = MAX_SSE_EVENT_BYTES) {}

  /** True once an oversized event made the stripper pass everything through. */
  get gaveUp(): boolean {
    return this.passthrough;
  }

  /** What the client gets for `chunk` (possibly nothing yet). */
  push(chunk: Buffer): Buffer | undefined {
    if (this.passthrough) return chunk;
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    const parts: Buffer[] = [];
    let pos = 0;
    let run = 0; // start of the bytes passing unchanged since the last rewritten event
    let usage = buf.indexOf(USAGE);
    for (;;) {
      const end = eventEnd(buf, pos);
      if (end < 0) break;
      if (usage >= 0 && usage < pos) usage = buf.indexOf(USAGE, pos);
      if (usage >= 0 && usage < end && endsWith(buf, end, NULL_TAIL)) {
        // The common case, OpenAI's `…,"usage":null}` as the data line's last member: cut the
        // bytes, no text decoded. (In valid JSON that text can only be a top-level member.)
        if (pos > run) parts.push(buf.subarray(run, pos));
        parts.push(buf.subarray(pos, end - NULL_TAIL.length), CLOSE);
        this.rewritten++;
        run = end;
      } else if (usage >= 0 && usage < end && endsWith(buf, end, NULL_TAIL_CRLF)) {
        if (pos > run) parts.push(buf.subarray(run, pos));
        parts.push(buf.subarray(pos, end - NULL_TAIL_CRLF.length), CLOSE_CRLF);
        this.rewritten++;
        run = end;
      } else if (usage >= 0 && usage < end) {
        const next = rewriteEvent(buf.toString('utf8', pos, end));
        if (next !== undefined) {
          if (pos > run) parts.push(buf.subarray(run, pos));
          if (next === '') this.dropped++;
          else {
            this.rewritten++;
            parts.push(Buffer.from(next));
          }
          run = end;
        }
      }
      pos = end;
    }
    if (pos > run) parts.push(buf.subarray(run, pos));
    if (pos < buf.length) {
      const rest = buf.subarray(pos);
      if (rest.length > this.maxEvent) {
        this.passthrough = true;
        parts.push(rest);
      } else {
        this.pending = rest;
      }
    }
    if (parts.length === 0) return undefined;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** The stream ended: what is still held (an unterminated last event), unchanged. */
  end(): Buffer | undefined {
    const p = this.pending;
    this.pending = undefined;
    return p;
  }
}

/**
 * The event without what include_usage added: '' to drop it, undefined when it is not touched
 * (no single `data:` line holding a JSON object with a top-level `usage`).
 */
export function rewriteEvent(ev: string): string | undefined {
  let at = -1;
  for (let i = 0; i < ev.length;) {
    const nl = ev.indexOf('\n', i);
    if (ev.startsWith('data:', i)) {
      if (at >= 0) return undefined; // several data lines: not the OpenAI shape
      at = i + 5;
      if (ev[at] === ' ') at++;
    }
    if (nl < 0) break;
    i = nl + 1;
  }
  if (at < 0) return undefined;
  let dataEnd = ev.indexOf('\n', at);
  if (dataEnd < 0) dataEnd = ev.length;
  if (ev[dataEnd - 1] === '\r') dataEnd--;
  const data = ev.slice(at, dataEnd);
  const ms = members(data);
  if (!ms) return undefined;
  const k = ms.findIndex((m) => m.key === 'usage');
  if (k < 0) return undefined;
  const u = ms[k]!;
  const value = data.slice(u.valueStart, u.valueEnd);
  if (value !== 'null') {
    if (value[0] !== '{') return undefined;
    const choices = ms.find((m) => m.key === 'choices');
    if (choices === undefined || /^\[\s*\]$/.test(data.slice(choices.valueStart, choices.valueEnd))) return '';
  }
  // Cut the member with the separator a serializer would not have written without it.
  let cutFrom: number;
  let cutTo: number;
  if (k + 1 < ms.length) {
    cutFrom = u.start;
    cutTo = ms[k + 1]!.start;
  } else if (k > 0) {
    cutFrom = ms[k - 1]!.valueEnd;
    cutTo = u.valueEnd;
  } else {
    cutFrom = u.start;
    cutTo = u.valueEnd;
  }
  return ev.slice(0, at) + data.slice(0, cutFrom) + data.slice(cutTo) + ev.slice(dataEnd);
}

/** One top-level member of a JSON object: offsets of its key's quote and of its value. */
interface Member {
  key: string;
  start: number;
  valueStart: number;
  valueEnd: number;
}

const isWs = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 13;

function skipWs(s: string, i: number): number {
  while (i < s.length && isWs(s.charCodeAt(i))) i++;
  return i;
}

/** Index past the string starting at `i` (a quote), or -1. */
function stringEnd(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 92) j++;
    else if (c === 34) return j + 1;
  }
  return -1;
}

/** Index past the JSON value starting at `i`, or -1. */
function valueEnd(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === 34) return stringEnd(s, i);
  if (c === 123 || c === 91) {
    let depth = 0;
    for (let j = i; j < s.length; j++) {
      const d = s.charCodeAt(j);
      if (d === 34) {
        j = stringEnd(s, j) - 1;
        if (j < 0) return -1;
      } else if (d === 123 || d === 91) depth++;
      else if (d === 125 || d === 93) {
        if (--depth === 0) return j + 1;
      }
    }
    return -1;
  }
  let j = i;
  while (j < s.length) {
    const d = s.charCodeAt(j);
    if (d === 44 || d === 125 || d === 93 || isWs(d)) break;
    j++;
  }
  return j > i ? j : -1;
}

/** The top-level members of the JSON object `s`, or undefined when `s` is not one. */
function members(s: string): Member[] | undefined {
  let i = skipWs(s, 0);
  if (s.charCodeAt(i) !== 123) return undefined;
  i++;
  const out: Member[] = [];
  for (;;) {
    i = skipWs(s, i);
    if (s.charCodeAt(i) === 125 && out.length === 0) return skipWs(s, i + 1) === s.length ? out : undefined;
    if (s.charCodeAt(i) !== 34) return undefined;
    const start = i;
    const kEnd = stringEnd(s, i);
    if (kEnd < 0) return undefined;
    const key = s.slice(i + 1, kEnd - 1);
    i = skipWs(s, kEnd);
    if (s.charCodeAt(i) !== 58) return undefined;
    i = skipWs(s, i + 1);
    const vEnd = valueEnd(s, i);
    if (vEnd < 0) return undefined;
    out.push({ key, start, valueStart: i, valueEnd: vEnd });
    i = skipWs(s, vEnd);
    const c = s.charCodeAt(i);
    if (c === 44) {
      i++;
      continue;
    }
    if (c === 125 && skipWs(s, i + 1) === s.length) return out;
    return undefined;
  }
}
