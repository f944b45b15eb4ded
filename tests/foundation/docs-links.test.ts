import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ROOT } from '../helpers/processes.js';

/** Every Markdown file a fresh clone would have (tracked, or new and not ignored). */
function trackedMarkdown(): string[] {
  return execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', '*.md'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f && !f.includes('node_modules/'));
}

/** Relative link targets in `[text](target)` form; external URLs and in-page anchors are not files. */
function relativeLinks(markdown: string): string[] {
  const links: string[] = [];
  for (const m of markdown.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = m[1]!;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue;
    links.push(target.split('#')[0]!);
  }
  return links;
}

describe('the repository stands alone', () => {
  const files = trackedMarkdown();

  it('finds the docs it checks', () => {
    expect(files).toEqual(expect.arrayContaining(['README.md', 'docs/architecture.md', 'docs/tabpfn-protocol.md']));
  });

  it('no Markdown link points outside the repository or at a missing file', () => {
    const broken: string[] = [];
    for (const file of files) {
      for (const target of relativeLinks(readFileSync(join(ROOT, file), 'utf8'))) {
        const abs = resolve(ROOT, dirname(file), target);
        const inside = !relative(ROOT, abs).startsWith('..');
        if (!inside || !existsSync(abs)) broken.push(`${file}: ${target}${inside ? ' (missing)' : ' (outside the repository)'}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('no tracked text mentions the steering checkout (../shared)', () => {
    // git grep exits 1 when nothing matches, so read its output rather than its status.
    const grep = spawnSync('git', ['grep', '-n', '-I', '--untracked', '-e', '\\.\\./shared/', '--', '.', ':!pnpm-lock.yaml', ':!tests/foundation/docs-links.test.ts'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    const out = grep.stdout.trim();
    expect(out).toBe('');
  });
});
