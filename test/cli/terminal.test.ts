/**
 * The deploy display through a real terminal (tmux) at 80 and 120 columns, and through a
 * pipe: what the operator sees during and after a deploy, a failing one, and a `full` one
 * while its maintenance page is up. On a terminal the live block (step, banner, instances)
 * is redrawn in place under the lines that stay, and no line is wider than the terminal
 * (panes are captured with wrapped lines joined, so a wrapped line shows as too long);
 * piped, plain lines without escape codes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { STEP_NAMES } from '../../lambda/deploy/advance';
import { releaseIdOfTree } from '../../lib/release-id';
import { appDirectory } from './support/app';

const ROOT = path.resolve(__dirname, '..', '..');
const ENTRY = path.join(__dirname, 'support', 'tty-entry.ts');
const TSX = path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cjs', 'index.cjs');

jest.setTimeout(120_000);

function tmux(...args: string[]): string {
  return execFileSync('tmux', args, { encoding: 'utf8' });
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 900; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

interface Screens {
  /** The pane while the deploy was held at `hold` (wrapped lines joined), if asked. */
  readonly during?: string[];
  /** The pane and its scrollback once the command ended, with wrapped lines joined. */
  readonly after: string[];
  /** The same with colours (escape codes kept). */
  readonly coloured: string;
  readonly stderr: string;
  readonly exit: number;
}

/** Runs `herd <args>` against the simulated environment in a `width`-column tmux pane. */
async function inTerminal(name: string, width: number, args: string[], env: Record<string, string> = {}, hold?: { when: string; until: RegExp }): Promise<Screens> {
  const session = `herd-${name}-${width}-${process.pid}`;
  const holdFile = path.join(tmpdir(), `${session}.go`);
  const errFile = path.join(tmpdir(), `${session}.err`);
  rmSync(holdFile, { force: true });
  const vars = { HERD_TTY_SECONDS_PER_POLL: '60', HERD_TTY_WAIT_MS: '40', ...env, ...(hold ? { HERD_TTY_HOLD_WHEN: hold.when, HERD_TTY_HOLD_FILE: holdFile } : {}) };
  const exports = Object.entries(vars).map(([k, v]) => `${k}='${v}'`).join(' ');
  const command = `cd ${ROOT} && ${exports} node -r ${TSX} ${ENTRY} ${args.join(' ')} 2>${errFile}; echo "EXIT=$?"; sleep 120`;
  tmux('new-session', '-d', '-s', session, '-x', String(width), '-y', '45', command);
  const capture = (...extra: string[]) => tmux('capture-pane', '-p', '-J', ...extra, '-t', session);
  const lines = (text: string) => text.split('\n').map((l) => l.trimEnd()).filter(Boolean);
  try {
    let during: string[] | undefined;
    if (hold) {
      let screen = '';
      await until(() => {
        screen = capture();
        return hold.until.test(screen) || /EXIT=\d/.test(screen);
      }, `${hold.when} on screen`);
      during = lines(screen);
      writeFileSync(holdFile, '');
    }
    let screen = '';
    await until(() => {
      screen = capture('-S', '-');
      return /EXIT=\d+/.test(screen);
    }, 'the command to end in tmux');
    return {
      ...(during ? { during } : {}),
      after: lines(screen),
      coloured: capture('-e', '-S', '-'),
      // ora's restore-cursor shows the cursor again on stderr as the process exits.
      stderr: existsSync(errFile) ? readFileSync(errFile, 'utf8').replace('\u001b[?25h', '').replace(/\(node:\d+\) Warning: NodeVersionSupportWarning[\s\S]*?to show where the warning was created\)\n/, '') : '',
      exit: Number(/EXIT=(\d+)/.exec(screen)?.[1]),
    };
  } finally {
    spawnSync('tmux', ['kill-session', '-t', session]);
    rmSync(holdFile, { force: true });
    rmSync(errFile, { force: true });
  }
}

/** No line wider than the terminal, and no internal id. */
function expectFitsAndSpeaksPlainly(lines: readonly string[], width: number): void {
  expect(lines.filter((l) => [...l].length > width)).toEqual([]);
  const text = lines.join('\n');
  expect([...STEP_NAMES, 'launchTemplate', 'compensate'].filter((id) => text.includes(id))).toEqual([]);
}

const PHASES = ['lock', 'bake', 'launch template', 'migrate', 'rollout', 'verify', 'record'];

describe.each([80, 120])('on a %i-column terminal', (width) => {
  test.concurrent('herd deploy: the phases with estimates, the rollout instance by instance, each phase once, the summary', async () => {
    const dir = appDirectory(`tty-${width}`);
    const release = releaseIdOfTree(dir);
    const s = await inTerminal('deploy', width, ['deploy', 'staging', dir], {}, { when: 'rollout', until: /rollout: replacing/ });
    expect(s.exit).toBe(0);
    expect(s.stderr).toBe('');
    // During the rollout: the live line (step in words, elapsed, ETA) and one line per instance under it.
    const during = s.during ?? [];
    // Web and worker roll at once (deploy.rolling.parallelRoles): the worker's count follows web's.
    expect(during).toContainEqual(expect.stringMatching(/^\S rollout: replacing [12] of 2 web instances(; [^·]+)? · .*elapsed \d+m\d+s · ETA ~\d+m?\d*s?$/));
    expect(during).toContainEqual(expect.stringMatching(new RegExp(`^  web {4}i-\\w+  ${release} +(launching|booting|healthy)$`)));
    expect(during).toContainEqual(expect.stringMatching(/^  web {4}i-\w+  r1 +(healthy|draining)$/));
    expectFitsAndSpeaksPlainly(during, width);
    // After: the phase list first, with the total from the first second.
    const after = s.after;
    const list = after.findIndex((l) => l.startsWith(`release ${release} on staging, rolling: ETA ~`));
    expect(after[list]).toMatch(/ETA ~\d+m\d+s \(estimate from herd plan\)$/);
    expect(after.slice(list + 1, list + 8).map((l) => l.replace(/ +~\S+$/, ''))).toEqual(PHASES.map((p) => `  ${p}`));
    // Each phase kept once with its time against the estimate; the live block redrawn away.
    for (const phase of PHASES) expect(after.filter((l) => l.startsWith(`✔ ${phase.padEnd(16)}`) && /\d+s \(estimate ~\S+\)$/.test(l))).toHaveLength(1);
    expect(after.filter((l) => / · elapsed /.test(l) || /^  (web|worker) +i-/.test(l))).toEqual([]);
    expect(after.filter((l) => /^✔ uploaded s3:\/\//.test(l))).toHaveLength(1);
    expect(after.slice(-7, -1)).toEqual([
      '  url        http://herd-staging-123.eu-west-1.elb.amazonaws.com',
      '  instances  web 2 · worker 1',
      expect.stringMatching(/^ {2}duration {3}\d+m\d+s \(estimate ~\d+m\d+s from herd plan\)$/),
      '  previous   r1',
      '  roll back  herd rollback staging',
      expect.stringMatching(new RegExp(`^release ${release} serves on staging \\((deploy \\S+ )?in \\d+m\\d+s\\)$`)),
    ]);
    expectFitsAndSpeaksPlainly(after, width);
  });

  test.concurrent('a release that never gets healthy: the failing instance and its reason, the failed phase in red, the cause, what was rolled back', async () => {
    const dir = appDirectory(`tty-unhealthy-${width}`);
    const release = releaseIdOfTree(dir);
    const s = await inTerminal('failure', width, ['deploy', 'staging', dir], { HERD_TTY_RELEASE: '{"neverHealthy":true}' }, { when: 'failing', until: /failing/ });
    expect(s.exit).toBe(1);
    const reason = 'Target.ResponseCodeMismatch: Health checks failed with these codes: [502]';
    // The failing instance, and the load balancer's reason whole under it, at either width.
    const during = s.during ?? [];
    const failing = during.findIndex((l) => /^  web {4}i-\w+ .* failing$/.test(l));
    expect(during[failing]).toMatch(new RegExp(`^  web {4}i-\\w+  ${release} +failing$`));
    expect(during[failing + 1]).toBe(`    ${reason}`);
    expectFitsAndSpeaksPlainly(s.during ?? [], width);
    const after = s.after;
    expect(after.filter((l) => l.startsWith('✖ '))).toEqual([expect.stringMatching(/^✖ rollout {9}\d+m\d+s \(estimate ~\S+\) — failed$/)]);
    // Red: the mark and the line of the failed phase, the cause.
    expect(s.coloured).toMatch(/\u001b\[31m✖\u001b\[39m \u001b\[31mrollout/);
    expect(after).toContainEqual(expect.stringMatching(/^✔ roll back {7}\d+/));
    const cause = after.findIndex((l) => l.startsWith('deploy failed in rollout: '));
    expect(after[cause]).toMatch(new RegExp(`^deploy failed in rollout: release ${release} is unhealthy`));
    expect(after.slice(cause + 1, cause + 3)).toEqual([
      expect.stringMatching(new RegExp(`^  diagnosis: \\d web instances of ${release} failed their health check:$`)),
      `    ${reason}`,
    ]);
    const back = after.indexOf('  rolled back: release r1 keeps serving');
    expect(after.slice(back + 1, back + 4)).toEqual(['    - instances rolled back', '    - release parameters restored', '    - builder and runner terminated']);
    expectFitsAndSpeaksPlainly(after, width);
    // The error line (stderr) states the outcome for scripts and logs, unchanged.
    expect(s.stderr).toMatch(/^herd: deploy \S+ failed in rollout: release \S+ is unhealthy: /);
  });
});

test.concurrent.each([80, 120])('a full deploy at %i columns: the maintenance banner while the page is up, with since when and the bypass', async (width) => {
  const dir = appDirectory(`tty-full-${width}`);
  // The page held up 3 minutes after the switch: the new fleet boots before the page goes up, so without a hold the page
  // is up for seconds only, which the display's polls (and DescribeRules' eventual consistency) could miss.
  const s = await inTerminal('full', width, ['deploy', 'staging', dir, '--strategy', 'full'], { HERD_TTY_SECONDS_PER_POLL: '10', HERD_TTY_HOLD_PAGE_MINUTES: '3' }, { when: 'page', until: /maintenance page up/ });
  expect(s.exit).toBe(0);
  const during = s.during ?? [];
  const banner = during.findIndex((l) => l.startsWith('▲ maintenance page up'));
  expect(during.slice(banner, banner + 3)).toEqual([
    expect.stringMatching(/^▲ maintenance page up since \d\d:\d\d:\d\d UTC \(\d+s\): visitors get 503$/),
    '  bypass: X-Herd-Bypass header = secret herd/shop/staging/maintenance-bypass',
    '  bypass: requests from 203.0.113.0/24 skip the page',
  ]);
  // Above the banner, the live line; under it, the instances of both fleets.
  expect(during[banner - 1]).toMatch(/^\S rollout: [^·]+ · .*ETA/);
  expect(during.filter((l) => /^  (web|worker) +i-\w+/.test(l)).length).toBeGreaterThanOrEqual(3);
  expectFitsAndSpeaksPlainly(during, width);
  // Once down, the banner is gone and its end is said.
  expect(s.after.filter((l) => l.startsWith('▲ maintenance'))).toEqual([]);
  expect(s.after).toContainEqual(expect.stringMatching(/^maintenance page down at \d\d:\d\d:\d\d UTC, after (\d+m)?\d+s$/));
  expect(s.after).toContainEqual(expect.stringMatching(/serves on staging/));
  expectFitsAndSpeaksPlainly(s.after, width);
});

test('piped, herd deploy prints plain lines: the phase list, one line per change, instances as they change, the summary', () => {
  const dir = appDirectory('pipe');
  const release = releaseIdOfTree(dir);
  // Polls 10 virtual seconds apart: a new instance boots from its image in under a minute, and the lines show it launching.
  const res = spawnSync('node', ['-r', TSX, ENTRY, 'deploy', 'staging', dir], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, HERD_TTY_WAIT_MS: '0', HERD_TTY_SECONDS_PER_POLL: '10' } });
  expect(res.status).toBe(0);
  expect(res.stdout).not.toMatch(/\u001b\[/);
  expect(res.stdout).not.toContain('\r');
  const lines = res.stdout.split('\n');
  expect(lines.slice(0, 3)).toEqual([
    expect.stringMatching(/^packed 3 files, \d+ B \(\d+ B before compression\)$/),
    expect.stringMatching(/^uploading s3:\/\/herd-staging-artifacts\/releases\/\S+\.tar\.gz \(\d+ B\)$/),
    expect.stringMatching(/^uploaded s3:\/\/herd-staging-artifacts\/releases\/\S+\.tar\.gz \(\d+ B in 0s\)$/),
  ]);
  expect(lines[4]).toMatch(new RegExp(`^release ${release} on staging, rolling: ETA ~\\d+m\\d+s \\(estimate from herd plan\\)$`));
  const progress = lines.filter((l) => / · elapsed /.test(l));
  expect(progress.length).toBeGreaterThan(3);
  // One line per change: never the same step twice in a row.
  const steps = progress.map((l) => l.replace(/ · elapsed.*/, ''));
  for (let i = 1; i < steps.length; i++) expect(steps[i]).not.toBe(steps[i - 1]);
  expect(res.stdout).toMatch(/^✔ bake {12}\d+m\d+s \(estimate ~\d+m\d+s\)$/m);
  expect(res.stdout).toMatch(new RegExp(`^  web {4}i-\\w+  ${release} +launching$`, 'm'));
  expect(res.stdout).toMatch(/^  web {4}i-\w+  r1 +terminated$/m);
  expect(res.stdout).toMatch(/serves on staging/);
  expect([...STEP_NAMES, 'launchTemplate'].filter((id) => res.stdout.includes(id))).toEqual([]);
});
