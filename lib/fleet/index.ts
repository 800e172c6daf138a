/** Fleet polling without Node-RED: cursors, incremental download, device lists, scheduling. */
export * from './cursor';
export * from './cursor-store';
export * from './incremental';
export * from './window';
export * from './device-list';
export * from './health';
export * from './scheduler';
export * from './device-poll';
export * from './shard';
export * from './fleet-source';
export * from './poller';
