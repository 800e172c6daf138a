export * from './zone';
export * from './canonical';
export * from './status';
