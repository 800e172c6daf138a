/**
 * ZK checksum: ones'-complement of the ones'-complement sum of little-endian 16-bit words over the packet
 * (header + payload, checksum field counted as zero). docs/zk-protocol.md §2.4.
 */
export function zkChecksum(packet: Uint8Array): number {
  let acc = 0;
  const n = packet.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    // Bytes 2–3 hold the checksum itself and count as zero.
    if (i !== 2) acc += packet[i] | (packet[i + 1] << 8);
  }
  // An odd last byte is a word on its own, unless it is byte 2 (a 3-byte input: still the checksum field).
  if (i < n && i !== 2) acc += packet[i];
  // Not `acc >>> 16`: that truncates to 32 bits, and packets over ~128 KiB can sum past 2^32.
  while (acc > 0xffff) acc = (acc % 0x10000) + Math.floor(acc / 0x10000);
  return ~acc & 0xffff;
}
