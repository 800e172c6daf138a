/** Default `ticks` byte, as pyzk and node-zklib (master) send it. */
export const DEFAULT_AUTH_TICKS = 50;

function reverseBits32(v: number): number {
  let r = 0;
  for (let i = 0; i < 32; i++) {
    r = (r << 1) | ((v >>> i) & 1);
  }
  return r >>> 0;
}

/**
 * The 4-byte CMD_AUTH payload for a comm key (docs/zk-protocol.md §3.4): bit-reverse the key, add the
 * session id (wrapping at 2^32), XOR with "ZKSO", swap the 16-bit halves, then mix in `ticks`.
 */
export function makeCommKey(key: number, session: number, ticks: number = DEFAULT_AUTH_TICKS): Buffer {
  const k = (reverseBits32(key >>> 0) + (session & 0xffff)) >>> 0;
  const b1 = ((k >>> 8) & 0xff) ^ 0x4b;
  const b2 = ((k >>> 16) & 0xff) ^ 0x53;
  const b3 = ((k >>> 24) & 0xff) ^ 0x4f;
  // Halves swapped: s = [b2, b3, b0, b1]; s2 (= b0, the low byte XOR 'Z') is replaced by ticks on the wire.
  const t = ticks & 0xff;
  return Buffer.from([b2 ^ t, b3 ^ t, t, b1 ^ t]);
}

/** Device side: recompute with the ticks byte the client sent (byte 2) and compare all four bytes. */
export function verifyCommKey(payload: Uint8Array, key: number, session: number): boolean {
  if (payload.length < 4) return false;
  const expected = makeCommKey(key, session, payload[2]);
  return (
    expected[0] === payload[0] && expected[1] === payload[1] && expected[2] === payload[2] && expected[3] === payload[3]
  );
}
