/**
 * The user-management types the client offers (docs/internal-apis.md, device management). Declared here
 * with the same shapes as lib/protocol so the planner builds on its own; structural typing makes them one.
 */
import type { DeviceUser } from '../protocol/users';

export type { DeviceUser };

export interface UserWrite {
  userId: string;
  name?: string;
  password?: string;
  cardNo?: number;
  group?: number;
  /** Level as the raw byte without the disabled bit: 0 user, 2 enroller, 6 admin, 14 super admin. */
  privilege?: number;
  enabled?: boolean;
}

export interface FingerTemplate {
  userId: string;
  uid: number;
  finger: number;
  flag: number;
  data: Buffer;
}

export type UserWriteFailureCode = 'NOT_KEPT' | 'BAD_INPUT' | 'DEVICE_ERROR' | 'NO_SLOT';

export interface UserWriteFailure {
  userId: string;
  reason: string;
  code: UserWriteFailureCode;
}

export interface UserWriteReport {
  written: DeviceUser[];
  failed: UserWriteFailure[];
}

export interface UserDeleteReport {
  deleted: string[];
  notFound: string[];
  failed: UserWriteFailure[];
}

/** What a sync needs of a device: the ZkClient methods of the same names. */
export interface UserDevice {
  users(): Promise<DeviceUser[]>;
  upsertUsers(users: UserWrite[], opts?: { onProgress?: (done: number, total: number) => void }): Promise<UserWriteReport>;
  deleteUsers(userIds: string[]): Promise<UserDeleteReport>;
}

/** What template backup and copy need of a device. */
export interface TemplateDevice {
  users(): Promise<DeviceUser[]>;
  templates(): Promise<FingerTemplate[]>;
  setUserTemplates(userId: string, templates: FingerTemplate[]): Promise<void>;
}
