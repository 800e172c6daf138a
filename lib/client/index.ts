export { ZkClient, MAX_UNLOCK_SECONDS } from './zk-client';
export type {
  ZkClientOptions,
  DeviceInfo,
  AttendanceResult,
  AttendanceProgress,
  TransportKind,
  ClockSyncResult,
  SafeClearResult,
} from './zk-client';
export { LiveSession } from './live';
export type { Logger, LogLevel, SessionStats } from './session';
export type { ReadProgress } from './buffered-read';
export type { TemplateWriteReport, UserPlan } from './user-writes';
