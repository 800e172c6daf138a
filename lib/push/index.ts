/** The ADMS/iclock push protocol, server side (docs/adms.md). */
export * from './allow-list';
export * from './attlog';
export * from './body';
export * from './command-text';
export * from './commands';
export * from './devices';
export * from './journal';
export * from './listener';
export * from './options';
export * from './server';
export * from './settings';
export * from './state';
