// Runs a program that knows nothing of the test run (pgbouncer, say) so that it still dies with it:
// `spawnLeashed` (processes.ts) starts this script as the leader of a new process group with an IPC
// channel to the jest worker. When that channel closes (the worker exited, or was SIGKILLed and so
// never ran its reaper) the whole group is SIGKILLed: this script, the program and whatever the
// program started (`runuser` keeps its child in the group).
import { spawn } from 'node:child_process';

const [command, ...args] = process.argv.slice(2);
const child = spawn(command, args, { stdio: 'inherit' });

function killGroup() {
  try {
    process.kill(-process.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
    process.exit(1);
  }
}

process.on('disconnect', killGroup);
// An ES module starts after a few turns of the event loop: the channel may have closed already.
if (!process.connected) killGroup();
child.on('error', (err) => {
  process.stderr.write(`leash: cannot run ${command}: ${err.message}\n`);
  process.exit(127);
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
