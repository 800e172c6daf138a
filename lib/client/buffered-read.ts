import { Session, DONE, MORE, PacketVerdict, Logger } from './session';
import { Cmd, Reply, codeName } from '../protocol/constants';
import {
  BufferSelector,
  encodePrepareBuffer,
  decodeBufferStat,
  encodeReadBuffer,
  decodePrepareData,
  chunkRanges,
  ByteRange,
} from '../protocol/buffered';
import { ZkDeviceError, ZkProtocolError, ZkError, hexSample } from '../errors';

export interface ReadProgress {
  /** Bytes of the prepared buffer received so far. */
  bytes: number;
  /** Buffer length L announced by the device. */
  totalBytes: number;
}

export interface BufferedReadOptions {
  label: string;
  logger: Logger;
  timeoutMs: number;
  chunkTimeoutMs: number;
  chunkBytes: number;
  chunkRetries: number;
  ackGraceMs: number;
  transport: 'tcp' | 'udp';
  onProgress?: (p: ReadProgress) => void;
}

/**
 * Reads a prepared buffer (docs/zk-protocol.md §7): 1503, then either the direct DATA reply or sequential 1504
 * chunks, then FREE_DATA. Returns the whole buffer (u32 total_size + records) or throws; partial data is
 * never returned as success.
 */
export async function readPreparedBuffer(
  session: Session,
  selector: BufferSelector,
  o: BufferedReadOptions,
): Promise<Buffer> {
  try {
    const reply = await session.request(Cmd.PREPARE_BUFFER, encodePrepareBuffer(selector), o.timeoutMs);
    let buffer: Buffer;
    if (reply.command === Cmd.DATA) {
      buffer = Buffer.from(reply.payload);
      o.onProgress?.({ bytes: buffer.length, totalBytes: buffer.length });
    } else if (reply.command === Reply.ACK_OK) {
      const length = decodeBufferStat(reply.payload);
      if (length === null) {
        throw new ZkProtocolError(
          `${o.label} answered the data request without a size (payload ${hexSample(reply.payload)})`,
          { host: o.label },
        );
      }
      buffer = await readChunks(session, length, o);
    } else {
      throw new ZkDeviceError(
        `${o.label} refused the data request with ${codeName(reply.command)} — the device may not support this read or is busy`,
        reply.command,
        { host: o.label },
      );
    }
    await freeData(session, o);
    checkBuffer(buffer, o.label);
    return buffer;
  } catch (err) {
    // A device that stopped answering will not answer FREE_DATA either: do not wait for it twice.
    if (!(err instanceof ZkError && err.code === 'TIMEOUT')) await freeData(session, o);
    throw err;
  }
}

/** Release the device's buffer; a failure here only matters if the session died, which the caller sees. */
async function freeData(session: Session, o: BufferedReadOptions): Promise<void> {
  await session.request(Cmd.FREE_DATA, undefined, o.timeoutMs).catch((err: Error) => {
    o.logger('debug', `FREE_DATA on ${o.label} failed: ${err.message}`);
  });
}

function checkBuffer(buffer: Buffer, label: string): void {
  if (buffer.length < 4) {
    throw new ZkProtocolError(`${label} sent a ${buffer.length}-byte data buffer; at least 4 bytes expected`, {
      host: label,
    });
  }
  const total = buffer.readUInt32LE(0);
  if (4 + total !== buffer.length) {
    throw new ZkProtocolError(
      `${label} sent ${buffer.length} bytes but the buffer announces ${total} + 4 — the download is incomplete or corrupt`,
      { host: label, announced: total, received: buffer.length },
    );
  }
}

async function readChunks(session: Session, length: number, o: BufferedReadOptions): Promise<Buffer> {
  const out = Buffer.allocUnsafe(length);
  let received = 0;
  for (const range of chunkRanges(length, o.chunkBytes)) {
    for (let attempt = 0; ; attempt++) {
      try {
        await readChunk(session, range, out, o);
        break;
      } catch (err) {
        // Size violations are worth a retry of the same range, and so are timeouts on UDP (a lost
        // datagram). On TCP nothing is lost in transit: a timeout means the device stopped, so no retry.
        const retryable =
          err instanceof ZkError &&
          !session.isClosed &&
          (err.code === 'PROTOCOL' || (err.code === 'TIMEOUT' && o.transport === 'udp'));
        if (!retryable || attempt >= o.chunkRetries) throw err;
        o.logger('warn', `retrying chunk ${range.start}+${range.size} from ${o.label}: ${(err as Error).message}`);
      }
    }
    received += range.size;
    o.onProgress?.({ bytes: received, totalBytes: length });
  }
  return out;
}

function readChunk(session: Session, range: ByteRange, out: Buffer, o: BufferedReadOptions): Promise<void> {
  let got = 0;
  let announced: number | null = null;
  const label = o.label;
  const where = `chunk ${range.start}+${range.size} from ${label}`;
  return session.exchange({
    command: Cmd.READ_BUFFER,
    payload: encodeReadBuffer(range),
    timeoutMs: o.chunkTimeoutMs,
    idle: true,
    nextTimeoutMs: () => (got === range.size && announced !== null ? o.ackGraceMs : o.chunkTimeoutMs),
    onPacket: (p): PacketVerdict => {
      switch (p.command) {
        case Cmd.PREPARE_DATA: {
          const pd = decodePrepareData(p.payload);
          if (!pd || pd.size !== range.size) {
            throw new ZkProtocolError(
              `${where}: device announced ${pd ? pd.size : 'no'} bytes instead of ${range.size}`,
              { host: label },
            );
          }
          announced = pd.size;
          return MORE;
        }
        case Cmd.DATA: {
          if (got + p.payload.length > range.size) {
            throw new ZkProtocolError(
              `${where}: received ${got + p.payload.length} bytes, more than the ${range.size} requested`,
              { host: label },
            );
          }
          p.payload.copy(out, range.start + got);
          got += p.payload.length;
          return MORE;
        }
        case Reply.ACK_OK:
          if (got !== range.size) {
            throw new ZkProtocolError(`${where}: chunk ended after ${got} of ${range.size} bytes`, { host: label });
          }
          return DONE;
        default:
          throw new ZkDeviceError(`${where}: device answered ${codeName(p.command)}`, p.command, { host: label });
      }
    },
    onTimeout: (): PacketVerdict => {
      // All data but no trailing ACK_OK: accept after a short grace (§7.6); its late arrival is dropped as stale.
      if (got === range.size && (announced !== null || range.size === 0)) {
        o.logger('warn', `${where}: data complete but no ACK_OK within ${o.ackGraceMs} ms; accepted`);
        return DONE;
      }
      return MORE;
    },
  });
}
