export * from './url-guard.js';
export * from './emitter.js';
export * from './secret-store.js';
