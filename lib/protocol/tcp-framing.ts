import { TCP_MAGIC, TCP_PREFIX_BYTES, HEADER_BYTES } from './constants';
import { ZkProtocolError, hexSample } from '../errors';

export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

/** Prefixes a packet for TCP: magic `50 50 82 7D` + u32 LE packet length (docs/zk-protocol.md §2.2). */
export function frameTcp(packet: Buffer): Buffer {
  const out = Buffer.allocUnsafe(TCP_PREFIX_BYTES + packet.length);
  TCP_MAGIC.copy(out, 0);
  out.writeUInt32LE(packet.length, 4);
  packet.copy(out, TCP_PREFIX_BYTES);
  return out;
}

export interface SplitterOptions {
  maxFrameBytes?: number;
  /** Skip to the next magic instead of failing on garbage (bytes skipped are counted). */
  lenient?: boolean;
}

/**
 * Streaming TCP splitter (docs/zk-protocol.md §2.6). Feed it every read; it returns the complete packets
 * (without prefix) and keeps any partial frame for the next read. Throws ZkProtocolError on a bad
 * magic or length in strict mode; after that the stream is unusable and the caller must close it.
 */
export class TcpFrameSplitter {
  private buf: Buffer = Buffer.alloc(0);
  private readonly maxFrameBytes: number;
  private readonly lenient: boolean;
  /** Bytes discarded in lenient mode while looking for a magic. */
  skippedBytes = 0;

  constructor(opts: SplitterOptions = {}) {
    this.maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.lenient = opts.lenient ?? false;
  }

  get buffered(): number {
    return this.buf.length;
  }

  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    let off = 0;
    for (;;) {
      const avail = this.buf.length - off;
      if (avail < TCP_PREFIX_BYTES) break;
      if (!this.hasMagicAt(off)) {
        if (!this.lenient) {
          const sample = this.buf.subarray(off, off + 16);
          this.buf = Buffer.alloc(0);
          throw new ZkProtocolError(
            `bad TCP frame: expected magic 50 50 82 7d, got ${hexSample(sample)}`,
            {},
            'BAD_FRAME',
          );
        }
        const next = this.buf.indexOf(TCP_MAGIC, off + 1);
        const skipTo = next < 0 ? Math.max(off, this.buf.length - 3) : next;
        this.skippedBytes += skipTo - off;
        off = skipTo;
        continue;
      }
      const n = this.buf.readUInt32LE(off + 4);
      if (n < HEADER_BYTES || n > this.maxFrameBytes) {
        if (!this.lenient) {
          this.buf = Buffer.alloc(0);
          throw new ZkProtocolError(
            `bad TCP frame length ${n} (allowed ${HEADER_BYTES}…${this.maxFrameBytes})`,
            { length: n },
            'BAD_FRAME',
          );
        }
        this.skippedBytes += 1;
        off += 1;
        continue;
      }
      if (avail < TCP_PREFIX_BYTES + n) break;
      // Copy out so the packet does not pin the whole read buffer.
      out.push(Buffer.from(this.buf.subarray(off + TCP_PREFIX_BYTES, off + TCP_PREFIX_BYTES + n)));
      off += TCP_PREFIX_BYTES + n;
    }
    this.buf = off === 0 ? this.buf : this.buf.subarray(off);
    if (this.buf.length === 0) this.buf = Buffer.alloc(0);
    return out;
  }

  reset(): void {
    this.buf = Buffer.alloc(0);
  }

  private hasMagicAt(off: number): boolean {
    const b = this.buf;
    return b[off] === 0x50 && b[off + 1] === 0x50 && b[off + 2] === 0x82 && b[off + 3] === 0x7d;
  }
}
