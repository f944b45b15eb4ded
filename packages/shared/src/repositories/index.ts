export * from './account.repository.js';
export * from './api-key.repository.js';
export * from './dataset.repository.js';
export * from './idempotency.repository.js';
export * from './job.repository.js';
export * from './model.repository.js';
export * from './user.repository.js';
export * from './webhook.repository.js';
