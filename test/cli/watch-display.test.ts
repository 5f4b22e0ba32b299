/**
 * What an operator reads while a deploy runs, piped (the terminal is `terminal.test.ts`):
 * every step the deploy step can be at has words, no internal id reaches the output, a
 * heartbeat keeps a quiet log alive, the maintenance banner shows while the page is up, and
 * a failing instance shows the load balancer's reason.
 */
import { STEP_NAMES } from '../../lambda/deploy/advance';
import { releaseIdOfTree } from '../../lib/release-id';
import { HEARTBEAT_SECONDS, TerminalDisplay, colours } from '../../lib/cli/display';
import { statusOf } from '../../lib/cli/fleet';
import { PHASE_NAMES, STEP_PHRASES, stepPhrase } from '../../lib/cli/step-names';
import { failureLines, humanCause, phaseListLines, successLines } from '../../lib/cli/watch-view';
import type { DeployState } from '../../lambda/deploy/state';
import { appDirectory } from './support/app';
import { Collector, runHerd, testDeps } from './support/harness';
import { SimulatedEnvironment } from './support/simulated';

/** A piped output that notes the deploy's (virtual) time of every line. */
class TimedCollector extends Collector {
  readonly lines: { at: number; text: string }[] = [];
  constructor(private readonly now: () => number) {
    super(false);
  }
  override write(chunk: string): boolean {
    for (const text of chunk.split('\n').slice(0, -1)) this.lines.push({ at: this.now(), text });
    return super.write(chunk);
  }
}

function setup(spec: ConstructorParameters<typeof SimulatedEnvironment>[0], secondsPerPoll = 30) {
  const sim = new SimulatedEnvironment(spec);
  sim.secondsPerPoll = secondsPerPoll;
  const now = () => sim.world.clock.now();
  const out = new TimedCollector(now);
  const deps = { ...testDeps({ clients: () => sim.clients(), now, sleep: () => sim.sleep() }), out };
  return { sim, deps, out };
}

/** Ids the display must never show: every step id, and the phases' own ids where they are not words. */
const INTERNAL_IDS = [...STEP_NAMES, 'launchTemplate', 'compensate', 'waitRunner', 'refresh.', 'maintenanceOn'];

function expectNoInternalId(text: string): void {
  for (const id of INTERNAL_IDS) expect({ id, found: text.includes(id) }).toEqual({ id, found: false });
}

describe('step names', () => {
  test('every step the deploy step can set has words, and none of them is an id', () => {
    const state = { step: '', roleIndex: 0, plan: [], timings: [] } as unknown as DeployState;
    for (const step of STEP_NAMES) {
      expect({ step, named: step in STEP_PHRASES }).toEqual({ step, named: true });
      const words = stepPhrase({ state: { ...state, step }, hasWorker: true });
      expect(words).not.toBe('working');
      expect(words).not.toMatch(/[a-z][A-Z]|\w\.\w/);
    }
    expect(Object.values(PHASE_NAMES).filter((n) => /[a-z][A-Z]/.test(n))).toEqual([]);
  });

  test('a rollout says how many instances it has replaced, of how many', () => {
    const state = { step: 'refresh.wait', roleIndex: 1, plan: [], timings: [] } as unknown as DeployState;
    expect(stepPhrase({ state, hasWorker: true, counts: { worker: { desired: 6, replaced: 1 } } })).toBe('replacing 2 of 6 worker instances');
    expect(stepPhrase({ state: { ...state, roleIndex: 0 }, hasWorker: true, counts: { web: { desired: 6, replaced: 6 } } })).toBe('all 6 web instances replaced, finishing');
    expect(stepPhrase({ state: { ...state, step: 'replace.waitNew' }, hasWorker: true, counts: { web: { desired: 4, replaced: 1 }, worker: { desired: 2, replaced: 2 } } })).toBe(
      '3 of 6 new instances in service',
    );
  });

  test('a parallel rollout names web and worker together, each with its own count', () => {
    const state = { step: 'refresh.wait', roleIndex: 0, parallelRoles: true, plan: [], timings: [] } as unknown as DeployState;
    const counts = { web: { desired: 6, replaced: 2 }, worker: { desired: 2, replaced: 2 } };
    expect(stepPhrase({ state, hasWorker: true, counts })).toBe('replacing 3 of 6 web instances; all 2 worker instances replaced, finishing');
    expect(stepPhrase({ state: { ...state, step: 'refresh.start' }, hasWorker: true })).toBe('starting the web and worker instance refreshes');
    expect(stepPhrase({ state: { ...state, step: 'refresh.waitFloor' }, hasWorker: true })).toBe('waiting for the web and worker fleets at the configured size');
    // Without a worker fleet, or one after the other: one role.
    expect(stepPhrase({ state: { ...state, step: 'refresh.start' }, hasWorker: false })).toBe('starting the web instance refresh');
    expect(stepPhrase({ state: { ...state, parallelRoles: undefined, roleIndex: 1, step: 'refresh.floor' } as DeployState, hasWorker: true })).toBe('moving the worker fleet to the configured size');
  });

  test('an instance is launching, booting, healthy, failing, draining or terminated', () => {
    expect(statusOf('Pending', undefined)).toBe('launching');
    expect(statusOf('Pending:Wait', { state: 'initial' })).toBe('launching');
    expect(statusOf('InService', { state: 'initial' })).toBe('booting');
    expect(statusOf('InService', { state: 'unused' })).toBe('booting');
    expect(statusOf('InService', { state: 'healthy' })).toBe('healthy');
    expect(statusOf('InService', undefined)).toBe('healthy');
    expect(statusOf('InService', { state: 'unhealthy' })).toBe('failing');
    expect(statusOf('InService', { state: 'draining' })).toBe('draining');
    expect(statusOf('Terminating:Wait', { state: 'draining' })).toBe('draining');
    expect(statusOf('Terminated', undefined)).toBe('terminated');
  });
});

describe('terminal', () => {
  test('colours only on a terminal, and not with NO_COLOR', () => {
    expect(colours({ isTTY: true }, {})('red', '✖')).toBe('\u001b[31m✖\u001b[39m');
    expect(colours({ isTTY: true }, { NO_COLOR: '1' })('red', '✖')).toBe('✖');
    expect(colours({ isTTY: false }, {})('red', '✖')).toBe('✖');
  });

  test('the live block fits the terminal: lines cut to its width, instances beyond its height counted', () => {
    const out = Object.assign(new Collector(true), { columns: 50, rows: 10 });
    const display = new TerminalDisplay({ ...testDeps({ clients: () => { throw new Error('no calls'); } }), out, isTTY: true });
    const instances = Array.from({ length: 12 }, (_, n) => ({ id: `i-${String(n).padStart(17, '0')}`, role: 'web' as const, release: 'v42-3f9c0a1b2c3d', status: 'launching' as const }));
    display.live({ line: 'rollout: replacing 1 of 12 web instances', time: 'elapsed 9m12s · ETA ~3m10s', key: 'k', heartbeat: '', banner: [], bannerKey: '', instances, changes: [] });
    display.stop();
    // The last frame drawn: the spinner's line then the block, as ora wrote it.
    const frame = out.text.split('\u001b[2K').filter((f) => f.includes('rollout:')).at(-1) ?? '';
    const lines = frame.replace(/\u001b\[(\d+G|\?25[hl])/g, '').split('\n').filter((l) => l !== '');
    expect(lines.length).toBeLessThanOrEqual(10 - 4);
    expect(lines.filter((l) => [...l].length > 49)).toEqual([]);
    expect(lines[0]).toMatch(/^\S rollout: replacin… · elapsed 9m12s · ETA ~3m10s$/);
    expect(lines[1]).toBe('  web    i-00000000000000000  v42-3f9c0a1b2c3d l…');
    expect(lines.at(-1)).toBe('  … and 8 more');
    expect(lines).toHaveLength(6);
  });
});

describe('piped', () => {
  test(`a quiet stretch prints a heartbeat: never more than ${HEARTBEAT_SECONDS} s of the deploy without a line`, async () => {
    // Migrations of 5 minutes: nothing changes on screen meanwhile. Polls every 5 s, as the CLI's.
    const { sim, deps, out } = setup({ web: 2, worker: 1, serving: 'r1', timings: { migrationSeconds: 300 } }, 60);
    // Polls every 5 s, as the CLI's, while the migrations run (and the heartbeat is checked); a minute before and after.
    const window = { from: Infinity, until: Infinity };
    sim.onPoll = () => {
      const last = [...sim.executions.values()].at(-1)?.states.at(-1)?.timings.at(-1);
      const migrating = last?.phase === 'migrate' && last.endedAt === undefined;
      if (migrating && window.from === Infinity) window.from = sim.world.clock.now();
      if (!migrating && window.from !== Infinity && window.until === Infinity) window.until = sim.world.clock.now();
      sim.secondsPerPoll = migrating ? 5 : 60;
    };
    const run = await runHerd(['deploy', 'staging', appDirectory()], deps);
    expect(run.code).toBe(0);
    const heartbeats = out.lines.filter((l) => l.text.startsWith('… '));
    expect(heartbeats.length).toBeGreaterThan(5);
    // Quiet stretches elsewhere (the image's wait) print theirs too; the migrations' say so.
    expect(heartbeats.find((h) => h.text.includes('still migrate'))?.text).toMatch(/^… still migrate: running the migrations, elapsed \d+m\d+s, ETA (~\d+m?\d*s?|unknown)$/);
    const polled = out.lines.filter((l) => l.at >= window.from && l.at <= window.until);
    const gaps = polled.slice(1).map((l, n) => (l.at - (polled[n]?.at ?? l.at)) / 1000);
    // Five minutes of migrations: at least one line each 30 s.
    expect(gaps.length).toBeGreaterThanOrEqual(9);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(HEARTBEAT_SECONDS);
    expect(run.out).not.toMatch(/\u001b\[|\r/);
    expectNoInternalId(run.out + run.err);
  });

  test('a full deploy shows the maintenance banner once with since when and the bypass, never the secret; then that the page is down', async () => {
    const { sim, deps } = setup({ web: 2, worker: 1, serving: 'r1' });
    // The window holds the migration and seconds (the new fleet boots before it): polled often enough to see it.
    sim.secondsPerPoll = 2;
    const run = await runHerd(['deploy', 'staging', appDirectory(), '--strategy', 'full'], deps);
    expect(run.code).toBe(0);
    const lines = run.out.split('\n');
    const at = lines.findIndex((l) => l.startsWith('▲ maintenance page up'));
    expect(lines.slice(at, at + 3)).toEqual([
      expect.stringMatching(/^▲ maintenance page up since \d\d:\d\d:\d\d UTC \(\d+s\): visitors get 503$/),
      '  bypass: X-Herd-Bypass header = secret herd/shop/staging/maintenance-bypass',
      '  bypass: requests from 203.0.113.0/24 skip the page',
    ]);
    expect(lines.filter((l) => l.startsWith('▲ maintenance page up'))).toHaveLength(1);
    expect(lines.findIndex((l) => /^maintenance page down at \d\d:\d\d:\d\d UTC, after (\d+m)?\d+s$/.test(l))).toBeGreaterThan(at);
    // The bypass secret's value is never read, so never printed.
    expect(sim.iam.calls.filter((c) => c.call.api === 'GetSecretValue')).toEqual([]);
    expect(lines).toContainEqual(expect.stringMatching(/^rollout: waiting for the new web fleet to be healthy, not serving yet · elapsed \S+ · ETA \S+$/));
    expectNoInternalId(run.out + run.err);
  });

  test("an operator's page up before a rolling deploy: the banner says so, and that it stays up", async () => {
    const { deps } = setup({ web: 2, worker: 1, serving: 'r1', maintenanceOn: true });
    const run = await runHerd(['deploy', 'staging', appDirectory()], deps);
    expect(run.code).toBe(0);
    const lines = run.out.split('\n');
    expect(lines.filter((l) => l.startsWith('▲ maintenance'))).toEqual(['▲ maintenance page up since before this deploy (an operator put it up): visitors get 503']);
    expect(lines.filter((l) => l.startsWith('maintenance page down'))).toEqual([]);
  });

  test('an unhealthy release: the failing instances with the target-health reason, the diagnosis, the rollback', async () => {
    const dir = appDirectory('unhealthy');
    const { deps } = setup({ web: 2, worker: 1, serving: 'r1', releases: { [releaseIdOfTree(dir)]: { neverHealthy: true } } });
    const run = await runHerd(['deploy', 'staging', dir], deps);
    expect(run.code).toBe(1);
    const release = releaseIdOfTree(dir);
    const lines = run.out.split('\n');
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^  web {4}i-\\w+  ${release} +failing$`)),
    );
    const failing = lines.findIndex((l) => / failing$/.test(l));
    expect(lines[failing + 1]).toBe('    Target.ResponseCodeMismatch: Health checks failed with these codes: [502]');
    expect(lines).toContainEqual(expect.stringMatching(/^✖ rollout {9}\d+m\d+s \(estimate ~\S+\) — failed$/));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^deploy failed in rollout: release ${release} is unhealthy: \\d new web instance\\(s\\) failed their health check`)));
    expect(lines).toContainEqual('    Target.ResponseCodeMismatch: Health checks failed with these codes: [502]');
    expect(lines).toContainEqual('  rolled back: release r1 keeps serving');
    expectNoInternalId(run.out);
  });
});

describe('what is said at the end', () => {
  const env = { name: 'staging', outputs: { url: 'https://shop.example.com' } as never, config: { maintenance: { bypassCidrs: [] } } };
  const base = { kind: 'herd-deploy-state', deployId: 'd1', release: 'v2', step: 'compensate.record', roleIndex: 0, plan: [], timings: [], startedAt: 0, done: true } as unknown as DeployState;

  test('a rollback that did not finish names the steps that failed, in words', () => {
    const state: DeployState = {
      ...base,
      outcome: 'needs-attention',
      previous: { imageId: 'ami-1', release: 'v1', versions: {} },
      failure: { phase: 'rollout', step: 'refresh.wait', cause: 'refresh.wait: instance refresh ended Failed', at: 1 },
      compensation: { steps: ['compensate.refresh', 'compensate.waitRefresh', 'compensate.parameters', 'compensate.record'], index: 3, errors: ['compensate.parameters: AccessDenied'], refreshes: {} },
    };
    expect(failureLines(state, undefined)).toEqual([
      'deploy failed in rollout: replacing web instances: instance refresh ended Failed',
      '  rolled back: release v1 keeps serving',
      '    - instances rolled back',
      '  rollback steps that failed: restoring the release parameters: AccessDenied',
    ]);
  });

  test('causes in words: the step in front, one that kept failing, one named inside', () => {
    expect(humanCause('migrate.waitRunner: migration failed (exit 1)')).toBe('running the migrations: migration failed (exit 1)');
    expect(humanCause('refresh.wait kept failing for 5 min: ThrottlingException')).toBe('replacing web instances kept failing for 5 min: ThrottlingException');
    expect(humanCause('advance Lambda failed on bake.waitImage: Task timed out')).toBe('advance Lambda failed on waiting for the image to be available: Task timed out');
    expect(humanCause('rollout.unhealthy: release v2 is unhealthy')).toBe('release v2 is unhealthy');
    expect(humanCause('aborted by alice (herd abort stopped execution d1)')).toBe('aborted by alice (herd abort stopped execution d1)');
  });

  test('a first release has no way back to offer; without an estimate the duration stands alone', () => {
    expect(successLines({ ...base, outcome: 'succeeded' }, undefined, undefined, env, 754_000)).toEqual(['  url        https://shop.example.com', '  duration   12m34s']);
    expect(phaseListLines(undefined, { release: 'v2', strategy: 'rolling' }, 'staging')).toEqual([
      'release v2 on staging, rolling: no estimate (no earlier deploy like it, and herd plan could not model it)',
    ]);
  });
});
