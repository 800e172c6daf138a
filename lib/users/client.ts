/** A connected ZkClient as the device lib/users works with (its user and template methods). */
import type { ZkClient } from '../client';
import type { TemplateDevice, UserDevice } from './types';

export function asUserDevice(client: ZkClient): UserDevice & TemplateDevice {
  return client;
}
