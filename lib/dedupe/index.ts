export * from './id-set';
export * from './repeat';
export * from './store';
