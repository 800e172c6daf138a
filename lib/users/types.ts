/** The device-side types lib/users works with (defined by the protocol layer), and the devices it needs. */
import type { DeviceUser, UserDeleteReport, UserWrite, UserWriteReport } from '../protocol/users';
import type { FingerTemplate } from '../protocol/templates';

export type { DeviceUser, FingerTemplate, UserDeleteReport, UserWrite, UserWriteReport };
export type { UserWriteFailure, UserWriteFailureCode } from '../protocol/users';

/** What a sync needs of a device: the ZkClient methods of the same names. */
export interface UserDevice {
  users(): Promise<DeviceUser[]>;
  upsertUsers(
    users: UserWrite[],
    opts?: { onProgress?: (done: number, total: number) => void },
  ): Promise<UserWriteReport>;
  deleteUsers(userIds: string[]): Promise<UserDeleteReport>;
}

/** What template backup and copy need of a device. */
export interface TemplateDevice {
  users(): Promise<DeviceUser[]>;
  templates(): Promise<FingerTemplate[]>;
  setUserTemplates(userId: string, templates: FingerTemplate[]): Promise<void>;
  /** Many users' templates in one write window (ZkClient); without it, one setUserTemplates per user. */
  writeTemplates?(
    templates: FingerTemplate[],
  ): Promise<{ failed: { userId: string; finger: number; reason: string }[] }>;
}
