import { createInterface } from 'node:readline/promises';
import bcrypt from 'bcryptjs';

/** `pnpm hash-password [password]`: prints a bcrypt hash for ADMIN_PASSWORD_HASH (reads stdin when no argument). */
let password = process.argv[2];
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
