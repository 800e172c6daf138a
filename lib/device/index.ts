export * from './device-config';
export * from './device-session';
