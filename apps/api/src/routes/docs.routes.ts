import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import express, { type RequestHandler, Router } from 'express';
import type { OpenApiDocument } from '../openapi/document.js';

const require = createRequire(import.meta.url);
const SWAGGER_UI_DIR = dirname(require.resolve('swagger-ui-dist/package.json'));

/** The page loads only same-origin scripts (helmet's CSP forbids inline ones). */
const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>tabpfn-jobs API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/swagger-initializer.js"></script>
</body>
</html>
`;

/** Replaces swagger-ui-dist's own initializer (which points at the petstore). */
const INITIALIZER = `window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    persistAuthorization: true,
    presets: [SwaggerUIBundle.presets.apis],
  });
};
`;

const initializer: RequestHandler = (req, res, next) => {
  if (req.path !== '/swagger-initializer.js') return next();
  res.type('application/javascript').send(INITIALIZER);
};

/** `GET /openapi.json` and `GET /docs` (Swagger UI from the swagger-ui-dist package: works offline). */
export function docsRoutes(deps: { document: () => OpenApiDocument }): Router {
  const router = Router();

  router.get('/openapi.json', (_req, res) => {
    res.json(deps.document());
  });

  router.get('/docs', (_req, res) => {
    res.type('html').send(DOCS_PAGE);
  });

  router.use('/docs/assets', initializer, express.static(SWAGGER_UI_DIR, { index: false, maxAge: '1d' }));

  return router;
}
