/**
 * What a shadow copy's event records of an answer a provider adapter translates: the translated
 * answer (OpenAI's shape, usage included), as the primary's event would, so shadow rows have
 * tokens and compare with primary rows. Nothing is sent anywhere: a shadow answer is discarded.
 */
import type { Exchange } from './exchange-record.ts';
import type { BodyTranslator, StreamTranslator } from './providers/provider.ts';

/** Feeds one upstream answer through `t` into `x`'s capture. */
export class TranslatedCapture {
  private chunks: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly t: StreamTranslator | BodyTranslator, private readonly x: Exchange) {}

  /** One upstream chunk, arrived at `now` (the translated stream's output is timed then). */
  data(chunk: Buffer, now: number): void {
    if (this.t.kind === 'stream') {
      const r = this.t.push(chunk);
      if (r.record) {
        this.x.capture?.add(r.record);
        this.x.tokenTimer?.push(r.record, now);
      }
      return;
    }
    this.bytes += chunk.length;
    if (this.bytes <= this.t.maxBytes) this.chunks.push(chunk);
  }

  /**
   * The upstream's answer ended with `status`: the rest recorded, the exchange's status and
   * content type those of the translated answer. The error code when the answer could not be
   * translated, '' when it could.
   */
  end(status: number, now: number): string {
    const x = this.x;
    if (this.t.kind === 'stream') {
      const r = this.t.end();
      if (r.record) {
        x.capture?.add(r.record);
        x.tokenTimer?.push(r.record, now);
      }
      return this.t.failure;
    }
    const tr = this.t.translate(status, this.bytes <= this.t.maxBytes ? Buffer.concat(this.chunks, this.bytes) : undefined);
    this.chunks = [];
    x.capture?.add(tr.body);
    x.status = tr.status;
    x.responseContentType = tr.contentType;
    return tr.failed ? tr.errorClass : '';
  }
}
