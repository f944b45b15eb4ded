import { readFileSync } from 'node:fs';

function stat(pid: number): { ppid: number; sid: number } | undefined {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid pgrp session ..."; comm may contain spaces and parens.
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), sid: Number(fields[3]) };
  } catch {
    return undefined;
  }
}

function isPackageManager(pid: number): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.slice(0, 2).some((a) => /(^|\/)(p?npm)(\.c?js)?$/.test(a));
  } catch {
    return false;
  }
}

/**
 * The processes that started us, up to (not including) the session leader (the login shell) or
 * pid 1: `pnpm start` runs us through `pnpm` → `sh -c`, so when pnpm is SIGKILLed our parent (sh)
 * lives on and only watching the chain notices. Without /proc (macOS) just the parent.
 */
export function ancestors(pid = process.pid): number[] {
  const chain: number[] = [];
  let current = stat(pid);
  if (!current) return [process.ppid];
  while (current && current.ppid > 1) {
    const parent = stat(current.ppid);
    if (!parent) break;
    // The package manager that runs `pnpm start` is watched even as a session leader (setsid, a test
    // harness); the chain ends there: what started pnpm is not ours to follow.
    if (isPackageManager(current.ppid)) {
      chain.push(current.ppid);
      break;
    }
    if (parent.sid === current.ppid) break;
    chain.push(current.ppid);
    current = parent;
  }
  return chain.length ? chain : [process.ppid];
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Calls `onGone` once when any of those processes has exited (polled; the timer does not hold us up). */
export function watchAncestors(onGone: (pid: number) => void, intervalMs = 500): () => void {
  const watched = ancestors();
  const firstParent = process.ppid;
  const timer = setInterval(() => {
    const gone = process.ppid !== firstParent ? firstParent : watched.find((pid) => !alive(pid));
    if (gone === undefined) return;
    clearInterval(timer);
    onGone(gone);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
