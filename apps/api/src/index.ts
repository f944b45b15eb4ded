export { createApp, VERSION } from './app.js';
export { apiEnvSchema, loadApiConfig, type ApiConfig } from './config.js';
export { createApiContext, type ApiContext } from './context.js';
export { listen, type RunningServer } from './server.js';
export { buildOpenApiDocument, type OpenApiDocument } from './openapi/document.js';
