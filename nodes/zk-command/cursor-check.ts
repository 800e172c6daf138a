/**
 * Safe clear's proof of delivery: the downloaded log against a zk-poll node's saved cursor. A record counts
 * as delivered when that zk-poll would not emit it again: the same two rules its poll applies (lib/fleet
 * cursor.ts): not past the cursor's time, and not appended since its last download (unless zk-live sent it).
 * zk-poll saves a cursor only after it has sent the records on, so "delivered" means handed to the flow.
 */
import type { DeviceAttendance } from '../../lib/protocol/attendance';
import type { CanonicalResult } from '../../lib/record/canonical';
import { DeviceCursor, isPastCursor } from '../../lib/fleet';

export interface DeliveryCheck {
  /** Records zk-poll would still emit: not delivered yet. */
  pending: number;
  /** Records that cannot be canonical (impossible or future time): zk-poll reports them as anomalies, never as records. */
  anomalies: number;
  total: number;
}

export function checkDelivered(
  cursor: DeviceCursor | null,
  records: readonly DeviceAttendance[],
  canonical: (r: DeviceAttendance) => CanonicalResult,
): DeliveryCheck {
  const out: DeliveryCheck = { pending: 0, anomalies: 0, total: records.length };
  if (!cursor || cursor.count < 0) {
    for (const r of records) if (canonical(r).ok) out.pending++;
    out.anomalies = records.length - out.pending;
    return out;
  }
  // Positions mean nothing once the log shrank below the cursor's count (cleared or wrapped): time rule only.
  const appendedFrom = records.length >= cursor.count ? cursor.count : Infinity;
  const sentLive = new Set(cursor.liveIds ?? []);
  for (let i = 0; i < records.length; i++) {
    const c = canonical(records[i]);
    if (!c.ok) {
      out.anomalies++;
      continue;
    }
    if (isPastCursor(cursor, c.record) || (i >= appendedFrom && !sentLive.has(c.record.id))) out.pending++;
  }
  return out;
}
