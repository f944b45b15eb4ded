export * from './key-ring.js';
export * from './secrets.js';
export * from './tabpfn-token.js';
export * from './content-keys.js';
