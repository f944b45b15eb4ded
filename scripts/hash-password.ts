import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import bcrypt from 'bcryptjs';

/**
 * `pnpm hash-password [--] [password]`: prints a bcrypt hash for ADMIN_PASSWORD_HASH (reads stdin
 * when no argument). pnpm forwards the `--` of `pnpm hash-password -- secret`; parseArgs reads it as
 * the end of options, so the password is the positional after it (and may start with `-`).
 */
let positionals: string[];
try {
  ({ positionals } = parseArgs({ args: process.argv.slice(2), options: {}, allowPositionals: true, strict: true }));
} catch (err) {
  process.stderr.write(`${(err as Error).message}\nusage: pnpm hash-password [-- <password>] (no argument: read from stdin)\n`);
  process.exit(2);
}
if (positionals.length > 1) {
  process.stderr.write('pass one password (quote it if it contains spaces), or none to be asked for it\n');
  process.exit(2);
}
let password = positionals[0];
if (!password) {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY });
  password = await rl.question('admin password: ');
  rl.close();
}
if (!password || password.length < 8) {
  process.stderr.write('the password must be at least 8 characters\n');
  process.exit(1);
}
process.stdout.write(`${await bcrypt.hash(password, 12)}\n`);
