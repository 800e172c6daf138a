/** The device simulator (docs/internal-apis.md, docs/zk-protocol.md §11). */
export { ZkSimulator } from './simulator';
export { startSimulators } from './fleet';
export type { FleetOptions } from './fleet';
export { LONG_ID_INDEX, LEADING_ZERO_INDEX, VERIFY_TYPES } from './generate';
export type { SimProfile } from './profiles';
export { getProfile } from './profiles';
export * from './types';
