// A stand-in for a jest worker in tests/foundation/test-isolation.test.ts: starts an emulator the
// way tests do, reports its pid, then idles until someone kills it.
import { spawnApp } from './processes.js';

const emulator = spawnApp('emulator', { EMULATOR_PORT: '0' });
const line = await emulator.waitFor(/emulator listening/);
process.stdout.write(`${JSON.stringify({ child: emulator.proc.pid, url: JSON.parse(line).url })}\n`);
setInterval(() => undefined, 60_000);
