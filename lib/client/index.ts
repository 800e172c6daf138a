export { ZkClient } from './zk-client';
export type { ZkClientOptions, DeviceInfo, AttendanceResult, AttendanceProgress, TransportKind } from './zk-client';
export { LiveSession } from './live';
export type { Logger, LogLevel, SessionStats } from './session';
export type { ReadProgress } from './buffered-read';
export type { TemplateWriteReport, UserPlan } from './user-writes';
