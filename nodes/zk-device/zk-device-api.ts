import type { Node } from 'node-red';
import type { DeviceConfig, DeviceSession } from '../../lib/device';

/** What a zk-device config node offers the nodes that use it (MQTT-style register/deregister). */
export interface ZkDeviceNode extends Node<ZkDeviceCredentials> {
  deviceConfig: DeviceConfig;
  /** Registers `user` and returns the device's shared session (connected lazily). */
  acquire(user: Node): DeviceSession;
  /** Deregisters `user`; the last user out releases the session (closing the connection). */
  release(user: Node): Promise<void>;
}

export interface ZkDeviceCredentials {
  commKey?: string;
}
