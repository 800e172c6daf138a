export * from './zone';
export * from './canonical';
