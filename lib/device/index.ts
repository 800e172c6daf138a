export * from './device-config';
export * from './device-session';
export * from './test-connection';
