export * from './errors.js';
export * from './logger.js';
export * from './config/env.js';
export * from './db/pool.js';
export * from './db/migrate.js';
export * from './redis.js';
export * from './jobs/catalog.js';
export * from './jobs/queues.js';
