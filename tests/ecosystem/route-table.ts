import type { createApp } from '@tabpfn-jobs/api';

type Express = ReturnType<typeof createApp>;

/** `METHOD /path/{param}` for every route an Express 5 app serves, found by walking its router. */
export function servedRoutes(app: Express): string[] {
  const out = new Set<string>();
  type Layer = {
    route?: { path: string | string[]; methods: Record<string, boolean> };
    handle?: { stack?: Layer[]; router?: { stack?: Layer[] } };
    rawPath?: unknown;
    slash?: boolean;
  };
  const toSpec = (path: string) => path.replace(/:([A-Za-z_]\w*)/g, '{$1}');
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
        for (const p of paths) {
          for (const [method, on] of Object.entries(layer.route.methods)) {
            if (on && method !== '_all') out.add(`${method.toUpperCase()} ${toSpec(prefix + p)}`);
          }
        }
        continue;
      }
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      // app.use(path, subApp) wraps the sub-app in `mounted_app`: a whole app (the queue dashboard) is one page.
      if ((layer.handle as { name?: string } | undefined)?.name === 'mounted_app') {
        out.add(`GET ${toSpec(prefix + mount)}`);
        continue;
      }
      const nested = layer.handle?.stack ?? layer.handle?.router?.stack;
      if (!nested) continue; // plain middleware (auth, static assets)
      if (mount) out.add(`GET ${toSpec(prefix + mount)}`);
      else walk(nested, prefix);
    }
  };
  const root = (app as unknown as { router: { stack: Layer[] } }).router;
  walk(root.stack, '');
  return [...out].sort();
}

export function documentedRoutes(doc: { paths?: Record<string, Record<string, unknown>> }): string[] {
  const methods = ['get', 'post', 'put', 'patch', 'delete'];
  return Object.entries(doc.paths ?? {})
    .flatMap(([path, item]) => Object.keys(item).filter((m) => methods.includes(m)).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
}
