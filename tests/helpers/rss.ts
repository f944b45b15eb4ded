import { readFileSync } from 'node:fs';

function memory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/**
 * A process's resident memory while something runs: VmRSS every `everyMs`, and at the end VmHWM
 * (the kernel's own peak), so a peak between two samples (or while this thread was busy) still counts
 * when it exceeded every earlier one. `growth` is the peak minus the RSS at the start, in bytes.
 */
export function watchRss(pid: number, everyMs = 10) {
  const start = memory(pid);
  let peak = start.rss;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, memory(pid).rss);
    } catch {
      // The process is gone.
    }
  }, everyMs);
  return {
    stop(): { before: number; peak: number; growth: number } {
      clearInterval(timer);
      try {
        const end = memory(pid);
        peak = Math.max(peak, end.rss);
        if (end.hwm > start.hwm) peak = Math.max(peak, end.hwm);
      } catch {
        // The process is gone: keep the samples.
      }
      return { before: start.rss, peak, growth: peak - start.rss };
    },
  };
}
