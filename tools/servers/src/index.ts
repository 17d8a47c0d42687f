export * from './ports.js';
export * from './process.js';
export * from './etcd.js';
export * from './zookeeper.js';
export * from './random.js';
export * from './load.js';
export * from './certificates.js';
export * from './placement.js';
