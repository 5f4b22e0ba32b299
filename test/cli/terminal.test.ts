/**
 * The progress display through a real terminal (tmux): on a TTY the spinner line is
 * redrawn in place (one line per finished phase, no pile of progress lines); piped, the
 * same deploy prints plain lines without escape codes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { appDirectory } from './support/app';

const ROOT = path.resolve(__dirname, '..', '..');
const ENTRY = path.join(__dirname, 'support', 'tty-entry.ts');
const TSX = path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cjs', 'index.cjs');

function tmux(...args: string[]): string {
  return execFileSync('tmux', args, { encoding: 'utf8' });
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

test('herd deploy redraws its progress in place on a terminal', async () => {
  const session = `herd-cli-test-${process.pid}`;
  const dir = appDirectory('tty');
  const command = `cd ${ROOT} && node -r ${TSX} ${ENTRY} deploy staging ${dir}; echo "EXIT=$?"; sleep 60`;
  tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '50', command);
  try {
    let screen = '';
    await until(() => {
      screen = tmux('capture-pane', '-p', '-t', session);
      return /EXIT=\d+/.test(screen);
    }, 'the deploy to end in tmux');
    expect(screen).toMatch(/EXIT=0/);
    const lines = screen.split('\n').map((l) => l.trimEnd()).filter(Boolean);
    expect(lines.some((l) => /serves on staging/.test(l))).toBe(true);
    // One persisted line per finished phase, each once.
    for (const phase of ['lock', 'bake', 'launchTemplate', 'migrate', 'rollout', 'verify']) {
      expect(lines.filter((l) => new RegExp(`^✔ ${phase} \\d`).test(l))).toHaveLength(1);
    }
    // The live line was redrawn, not appended: no progress line is left on screen.
    expect(lines.filter((l) => / · elapsed /.test(l))).toEqual([]);
    // The upload: one line kept once it is done, its progress line redrawn away.
    expect(lines.filter((l) => /^✔ uploaded s3:\/\/\S+\.tar\.gz \(\d+ B in \d+s\)$/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => /uploading s3:/.test(l))).toEqual([]);
  } finally {
    spawnSync('tmux', ['kill-session', '-t', session]);
  }
});

test('piped, herd deploy prints one plain line per change', () => {
  const dir = appDirectory('pipe');
  const res = spawnSync('node', ['-r', TSX, ENTRY, 'deploy', 'staging', dir], { cwd: ROOT, encoding: 'utf8' });
  expect(res.status).toBe(0);
  expect(res.stdout).not.toMatch(/\u001b\[/);
  expect(res.stdout).not.toContain('\r');
  expect(res.stdout.split('\n').slice(0, 3)).toEqual([
    expect.stringMatching(/^packed 3 files, \d+ B \(\d+ B before compression\)$/),
    expect.stringMatching(/^uploading s3:\/\/herd-staging-artifacts\/releases\/\S+\.tar\.gz \(\d+ B\)$/),
    expect.stringMatching(/^uploaded s3:\/\/herd-staging-artifacts\/releases\/\S+\.tar\.gz \(\d+ B in 0s\)$/),
  ]);
  const progress = res.stdout.split('\n').filter((l) => / · elapsed /.test(l));
  expect(progress.length).toBeGreaterThan(3);
  expect(res.stdout).toMatch(/^done bake \d+m\d+s$/m);
  expect(res.stdout).toMatch(/serves on staging/);
});
