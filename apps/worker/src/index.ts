export { loadWorkerConfig, workerEnvSchema, type WorkerConfig } from './config.js';
export { startWorkerProcess, type WorkerProcess } from './context.js';
export type { HandlerMap, JobHandler } from './handlers/handler.js';
export { createReconciler } from './reconcile.js';
