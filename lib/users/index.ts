export * from './types';
export * from './master-list';
export * from './plan';
export * from './sync';
export * from './templates';
export * from './hr-mysql';
