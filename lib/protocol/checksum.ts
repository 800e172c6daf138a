/**
 * ZK checksum: ones'-complement of the ones'-complement sum of little-endian 16-bit words over the packet
 * (header + payload, checksum field counted as zero). zk-protocol.md §2.4.
 */
export function zkChecksum(packet: Uint8Array): number {
  let acc = 0;
  const n = packet.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    // Bytes 2–3 hold the checksum itself and count as zero.
    if (i !== 2) acc += packet[i] | (packet[i + 1] << 8);
  }
  if (i < n) acc += packet[i];
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return ~acc & 0xffff;
}
