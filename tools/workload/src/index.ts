export * from './connection.js';
export * from './writer.js';
export * from './write-gaps.js';
export * from './prober.js';
