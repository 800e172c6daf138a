/**
 * Reading a device's request body with a hard size cap, and deciding whether it is text we parse. Every byte
 * is untrusted: an oversized body is answered 413 and drained (or the socket dropped when it keeps coming),
 * and nothing is buffered past the cap.
 */
import type { IncomingMessage } from 'http';

export class BodyError extends Error {
  constructor(
    readonly status: 400 | 408 | 413 | 415,
    message: string,
  ) {
    super(message);
    this.name = 'BodyError';
  }
}

/**
 * Content types devices send (often none, or form-encoded although the body is plain text). Declared types
 * outside this list are refused; a missing one is accepted (docs/adms.md §7: do not trust Content-Type).
 */
const ACCEPTED_TYPES = new Set([
  'text/plain',
  'application/octet-stream',
  'application/x-www-form-urlencoded',
  'application/push',
  'text/html',
  '',
]);

export function contentTypeOk(header: string | undefined): boolean {
  const base = (header ?? '').split(';')[0].trim().toLowerCase();
  return ACCEPTED_TYPES.has(base);
}

/**
 * Reads the whole body up to `maxBytes` within `deadlineMs` from the start (not from the last byte: a sender
 * trickling a byte now and then would otherwise hold the request, and its buffer, for as long as it likes).
 * A body another middleware already read (req.body) is used as is.
 */
export function readBody(req: IncomingMessage, maxBytes: number, deadlineMs = 30_000): Promise<Buffer> {
  const pre = (req as IncomingMessage & { body?: unknown }).body;
  if (Buffer.isBuffer(pre))
    return pre.length > maxBytes ? Promise.reject(new BodyError(413, 'body too large')) : Promise.resolve(pre);
  if (typeof pre === 'string') {
    const b = Buffer.from(pre, 'utf8');
    return b.length > maxBytes ? Promise.reject(new BodyError(413, 'body too large')) : Promise.resolve(b);
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes)
    return Promise.reject(new BodyError(413, `body of ${declared} bytes is over the ${maxBytes}-byte limit`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (err: BodyError | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onErr);
      if (err) reject(err);
      else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    };
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > maxBytes) {
        chunks.length = 0;
        finish(new BodyError(413, `body is over the ${maxBytes}-byte limit`));
        return;
      }
      chunks.push(c);
    };
    const onEnd = (): void => finish(null);
    const onErr = (): void => finish(new BodyError(400, 'request aborted'));
    // A sender that stops or crawls mid-body must not hold a request (and its memory) for long.
    const timer = setTimeout(
      () =>
        finish(
          new BodyError(
            408,
            `body not received within ${deadlineMs < 10_000 ? `${deadlineMs} ms` : `${Math.round(deadlineMs / 1000)} s`}`,
          ),
        ),
      deadlineMs,
    );
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onErr);
  });
}

/** Lenient decoding for tables passed on raw (OPERLOG names may be in the device's code page). */
export function decodeLenient(buf: Buffer, codePage = 'utf-8'): string | null {
  if (buf.includes(0)) return null;
  return new TextDecoder(codePage).decode(buf);
}

/**
 * Character sets devices may use for text (a code page per device: older firmware writes names and string
 * PINs in the device's language code page). UTF-16 is refused: its line ends are not single bytes.
 */
export function codePageName(label: string): string {
  let name: string;
  try {
    name = new TextDecoder(label.trim()).encoding;
  } catch {
    throw new RangeError(
      `code page ${JSON.stringify(label)} is not known (e.g. utf-8, windows-1252, gbk, big5, shift_jis, windows-1256)`,
    );
  }
  if (/^utf-16/.test(name))
    throw new RangeError(
      `code page ${JSON.stringify(label)}: UTF-16 is not supported (devices send UTF-8 or a single- or multi-byte code page)`,
    );
  return name;
}

/** A body cut into lines at LF, CRLF or a lone CR, as bytes (these bytes never occur inside a character of a supported code page). */
export function splitByteLines(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i];
    if (b !== 0x0a && b !== 0x0d) continue;
    out.push(buf.subarray(start, i));
    if (b === 0x0d && buf[i + 1] === 0x0a) i++;
    start = i + 1;
  }
  out.push(buf.subarray(start));
  return out;
}
