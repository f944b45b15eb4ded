#!/usr/bin/env node
/** The `tabpfn-jobs` bin: relative paths are the caller's, i.e. the process's working directory. */
import { run } from './run.js';

run(process.argv.slice(2), process.env, process.cwd()).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);
