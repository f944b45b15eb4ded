export * from './catalog.js';
export * from './queues.js';
export * from './job-events.js';
export * from './lifecycle.js';
