import { HEADER_BYTES } from './constants';
import { zkChecksum } from './checksum';

/** One ZK packet: the 8-byte header fields plus the payload. */
export interface ZkPacket {
  /** Command, reply or event code (offset 0). */
  command: number;
  /** Session id (offset 4); the event code in realtime packets. */
  session: number;
  /** Reply id (offset 6). */
  replyId: number;
  payload: Buffer;
}

export interface DecodedPacket extends ZkPacket {
  /** The checksum as received. */
  checksum: number;
  /** Whether it matches the checksum computed over the packet. */
  checksumOk: boolean;
}

/** Encodes a packet (header + payload) with a correct checksum. No transport prefix. */
export function encodePacket(p: ZkPacket): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES + p.payload.length);
  buf.writeUInt16LE(p.command & 0xffff, 0);
  buf.writeUInt16LE(0, 2);
  buf.writeUInt16LE(p.session & 0xffff, 4);
  buf.writeUInt16LE(p.replyId & 0xffff, 6);
  p.payload.copy(buf, HEADER_BYTES);
  buf.writeUInt16LE(zkChecksum(buf), 2);
  return buf;
}

/**
 * Decodes one packet. Returns null when it is shorter than a header (such datagrams are dropped,
 * docs/zk-protocol.md §2.1). The payload is a view into `buf`; copy it if the buffer is reused.
 */
export function decodePacket(buf: Buffer): DecodedPacket | null {
  if (buf.length < HEADER_BYTES) return null;
  const checksum = buf.readUInt16LE(2);
  return {
    command: buf.readUInt16LE(0),
    checksum,
    checksumOk: checksum === zkChecksum(buf),
    session: buf.readUInt16LE(4),
    replyId: buf.readUInt16LE(6),
    payload: buf.subarray(HEADER_BYTES),
  };
}
