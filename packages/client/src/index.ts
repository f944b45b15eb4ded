export * from './client.js';
export { JobWaitTimeoutError, type Problem, TabPFNJobsError } from './errors.js';
export { RESULT_FORMATS, type ResultFormat, resultFormatFor } from './results.js';
export { type WebhookEvent, WebhookVerificationError, verifyWebhook } from './webhooks.js';
export type { components, paths, webhooks } from './schema.js';
