export * from './recent-ids';
export * from './live-capture';
