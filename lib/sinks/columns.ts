import type { AttendanceRecord } from '../record';

/**
 * The default table columns shared by the SQL targets (MySQL/MariaDB and SQL Server): snake_case of the
 * canonical fields in docs/architecture.md §3 order, except `timestamp` → `ts_utc` (says it is UTC, and avoids a
 * keyword) and `id`, not written: it is deviceSn|userId|localTime again, and `id` is the created table's
 * surrogate key. Map `id` to a column (e.g. `record_id`) to store it.
 */
export const DEFAULT_COLUMNS: Readonly<Record<keyof AttendanceRecord, string | null>> = Object.freeze({
  id: null,
  deviceSn: 'device_sn',
  deviceName: 'device_name',
  site: 'site',
  deviceHost: 'device_host',
  userId: 'user_id',
  uid: 'uid',
  localTime: 'local_time',
  timestamp: 'ts_utc',
  tz: 'tz',
  state: 'state',
  direction: 'direction',
  verify: 'verify',
  verifyMethod: 'verify_method',
  workCode: 'work_code',
  source: 'source',
  receivedAt: 'received_at',
});
