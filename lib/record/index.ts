export * from './zone';
export * from './canonical';
export * from './status';
export * from './schema';
export * from './csv';
