/**
 * `pnpm cli -- <command>` in the repository (`pnpm -w cli` from any directory in it): pnpm runs the
 * script in the repository root, so the directory the caller typed the command in is INIT_CWD.
 */
import { run } from '../src/cli/run.js';

run(process.argv.slice(2), process.env, process.env.INIT_CWD || process.cwd()).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);
