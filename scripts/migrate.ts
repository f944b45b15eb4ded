/**
 * `pnpm migrate`: creates the database if missing (not in production) and applies pending migrations,
 * through `DATABASE_URL_DIRECT` when set, else `DATABASE_URL`. The program is the api's
 * `src/migrate.ts`, which the image runs as `node apps/api/dist/migrate.js`: one migration command in
 * development, tests and deployment.
 */
import '../apps/api/src/migrate.js';
