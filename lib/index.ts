/**
 * The package's library entry (package.json `main`): the ZK client, its typed errors, the canonical record
 * and its schema, and the protocol codec, for use outside Node-RED. The Node-RED nodes load from dist/nodes.
 */
export * from './errors';
export * from './client';
export * from './record';
export * as protocol from './protocol';
export type { DeviceUser, UserWrite, UserWriteFailure, UserWriteReport, UserDeleteReport } from './protocol/users';
export type { FingerTemplate } from './protocol/templates';
export { parseMasterList, planSync, syncDevice, copyTemplates, UserListError } from './users';
export type { MasterUser, MissingPolicy, SyncPlan, DeviceSyncReport, UserDevice, TemplateDevice } from './users';
