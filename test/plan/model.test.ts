/**
 * `planDeploy`: its prediction is the simulated deploy it describes (same inputs → same
 * duration, window, minimum healthy capacity, calls as the deploy scenario), history medians
 * move it, bad input is refused with exact messages; the timeline renders as a Gantt chart and an SVG.
 */
import type { HistoryItem } from '../../lambda/deploy/lock';
import { profileDefaults } from '../../lib/config/defaults';
import type { DeployConfig } from '../../lib/config/types';
import { DEFAULT_TIMINGS as FAKE_TIMINGS } from '../../lib/simulation/fake-cloud';
import { DEFAULT_SIMULATED_DEPLOY } from '../../lib/simulation/world';
import { planDeploy, rollingBreakdown, type DeployPlan, type PlanInput } from '../../lib/plan/model';
import { ganttChart, planSummary, planSvg } from '../../lib/plan/render';
import { DEFAULT_TIMINGS, historyMedians, withTimings } from '../../lib/plan/timings';
import { loadScenarios, runScenario, type Scenario } from '../deploy/scenario';

/** The plan input that describes a scenario's world (its groups as `createWorld` seeds them). */
function inputOf(scenario: Scenario): PlanInput {
  const w = scenario.world;
  const d = w.deploy ?? {};
  const deploy: DeployConfig = {
    ...DEFAULT_SIMULATED_DEPLOY,
    ...d,
    rolling: { ...DEFAULT_SIMULATED_DEPLOY.rolling, ...d.rolling },
    timeouts: { ...DEFAULT_SIMULATED_DEPLOY.timeouts, ...d.timeouts },
  };
  return {
    release: scenario.deploy.release,
    serving: w.serving,
    fleets: {
      web: { desired: w.web, min: Math.min(1, w.web), max: Math.max(w.web * 2, 4) },
      ...(w.worker !== undefined ? { worker: { desired: w.worker, min: Math.min(1, w.worker), max: Math.max(w.worker * 2, 2) } } : {}),
    },
    deploy,
    imageExists: false,
    releaseCommand: true,
    database: w.database ?? false,
    timings: withTimings(DEFAULT_TIMINGS, FAKE_TIMINGS, 'override', () => 'the fake cloud\'s defaults'),
  };
}

const byName = (prefix: string): Scenario => {
  const found = loadScenarios().find((s) => s.file.startsWith(prefix));
  if (!found) throw new Error(`no scenario ${prefix}`);
  return found.scenario;
};

describe.each(['01-', '02-', '03-'])('the plan of scenario %s is the simulated deploy', (prefix) => {
  test('same duration, maintenance window, minimum healthy capacity, downtime and AWS calls', async () => {
    const scenario = byName(prefix);
    const run = await runScenario(scenario);
    const plan = await planDeploy(inputOf(scenario));
    expect(plan.outcome).toBe('succeeded');
    expect({
      duration: plan.totalSeconds,
      window: plan.maintenanceWindowSeconds,
      minHealthy: plan.minHealthyPercent,
      downtime: plan.downtimeSeconds,
      calls: plan.awsCallsTotal,
    }).toEqual({
      duration: Math.round((run.endedAt - run.startedAt) / 1000),
      window: run.metrics.maintenanceSeconds,
      minHealthy: run.metrics.minHealthyPercent(),
      downtime: run.metrics.unservedSeconds,
      calls: run.world.cloud.calls.length,
    });
    expect(plan.timingSource).toBe('defaults');
  });
});

const production = profileDefaults('production', 'shop').deploy;
const base: PlanInput = {
  fleets: { web: { desired: 4, min: 2, max: 8 }, worker: { desired: 1, min: 1, max: 3 } },
  deploy: { ...production, rolling: { ...production.rolling, checkpointPercentages: [50, 100], checkpointDelaySeconds: 60 } },
  imageExists: false,
  releaseCommand: true,
};

describe('the timeline', () => {
  let plan: DeployPlan;
  beforeAll(async () => {
    plan = await planDeploy(base);
  });

  test('has the stages in order, the refresh batches and the checkpoints', () => {
    const stages = plan.timeline.filter((e) => e.kind === 'stage').map((e) => e.label);
    expect(stages).toEqual([
      'lock + janitor',
      'bake (builder, image)',
      'launch template + release parameters',
      'migrate (runner)',
      'instance refresh web + worker',
      'verify',
      'record (retention, history, unlock)',
    ]);
    expect(plan.timeline.filter((e) => e.kind === 'batch' && e.role === 'web').map((e) => e.label)).toEqual(['batch 1: 2 web up', 'batch 2: 2 web up']);
    // The refresh ends as soon as nothing is left to replace: only the 50 % checkpoint waits.
    expect(plan.timeline.filter((e) => e.kind === 'checkpoint').map((e) => [e.label, e.end - e.start])).toEqual([['checkpoint 50% (web)', 60]]);
    expect(plan.minHealthyPercent).toBe(100);
    expect(plan.downtimeSeconds).toBe(0);
    expect(plan.maintenance).toBeUndefined();
  });

  test('a full deploy has a maintenance window, shorter than the bake', async () => {
    const full = await planDeploy({ ...base, strategy: 'full', migrationOrder: 'maintenance' });
    expect(full.maintenance).toBeDefined();
    expect(full.maintenanceWindowSeconds).toBeGreaterThan(0);
    // Shorter than the bake phase (the release's builder on its base image, and the image).
    expect(full.maintenanceWindowSeconds).toBeLessThan(DEFAULT_TIMINGS.bakeSeconds.value + DEFAULT_TIMINGS.imageSeconds.value);
    expect(full.skewSeconds).toBe(0);
    expect(full.timeline.some((e) => e.kind === 'maintenance')).toBe(true);
  });

  test('a full deploy\'s window is the migration and a few seconds, the same for 2, 10 and 100 web servers (the new fleet boots before it)', async () => {
    const beyond: number[] = [];
    for (const n of [2, 10, 100]) {
      const plan = await planDeploy({ ...base, fleets: { web: { desired: n, min: n, max: 2 * n }, worker: { desired: 1, min: 1, max: 2 } }, strategy: 'full', migrationOrder: 'maintenance' });
      expect(plan.outcome).toBe('succeeded');
      const migrate = plan.phases.filter((p) => p.phase === 'migrate').reduce((s, p) => s + p.end - p.start, 0);
      beyond.push(plan.maintenanceWindowSeconds - migrate);
      expect(plan.downtimeSeconds).toBe(0);
      expect(plan.skewSeconds).toBe(0);
    }
    expect(Math.max(...beyond)).toBeLessThanOrEqual(10);
    expect(new Set(beyond).size).toBe(1);
  });

  test('an existing image skips the bake; no release command skips the migration', async () => {
    const quick = await planDeploy({ ...base, imageExists: true, releaseCommand: false });
    expect(quick.bakes).toBe(false);
    expect(quick.migrates).toBe(false);
    expect(quick.skewSeconds).toBe(0);
    expect(quick.totalSeconds).toBeLessThan(plan.totalSeconds - DEFAULT_TIMINGS.bakeSeconds.value);
    expect(quick.awsCalls['ec2:RunInstances'] ?? 0).toBe(0);
  });

  test('renders as a terminal Gantt chart and an SVG', () => {
    const chart = ganttChart(plan, 40);
    const lines = chart.split('\n');
    expect(lines).toHaveLength(plan.timeline.length + 2);
    expect(lines[0]).toMatch(/^lock \+ janitor\s+│█/);
    expect(chart).toContain('▓');
    expect(chart).toContain('░');
    const svg = planSvg(plan, 'herd plan staging');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/<rect /g)).toHaveLength(plan.timeline.length + 1);
    expect(planSummary(plan, 'herd plan staging')).toContain('timing parameters from documented defaults');
  });
});

function historyItem(n: number, phases: Record<string, number>, extra: Partial<HistoryItem> = {}): HistoryItem {
  let t = Date.UTC(2026, 9, n, 10, 0, 0);
  const records = Object.entries(phases).map(([phase, seconds]) => {
    const start = new Date(t).toISOString();
    t += seconds * 1000;
    return { phase: phase as HistoryItem['phases'][number]['phase'], startedAt: start, endedAt: new Date(t).toISOString(), seconds };
  });
  return {
    pk: 'DEPLOY',
    sk: `${records[0]?.startedAt ?? ''}#d${n}`,
    deployId: `d${n}`,
    release: `r${n}`,
    strategy: 'rolling',
    migrationOrder: 'before',
    actor: 'alice',
    status: 'succeeded',
    startedAt: records[0]?.startedAt ?? '',
    endedAt: new Date(t).toISOString(),
    reusedImage: false,
    phases: records,
    ...extra,
  };
}

describe('roles refreshed in parallel or one after the other', () => {
  const worker = { desired: 4, min: 1, max: 8 };
  const input = (parallelRoles: boolean): PlanInput => ({
    ...base,
    fleets: { ...base.fleets, worker },
    deploy: { ...production, rolling: { ...production.rolling, parallelRoles } },
    imageExists: true,
  });

  test('in parallel, web and worker share one refresh span and their batches overlap; one after the other takes longer', async () => {
    const parallel = await planDeploy(input(true));
    const serial = await planDeploy(input(false));
    const stages = (p: DeployPlan) => p.timeline.filter((e) => e.kind === 'stage' && e.label.startsWith('instance refresh')).map((e) => e.label);
    expect(stages(parallel)).toEqual(['instance refresh web + worker']);
    expect(stages(serial)).toEqual(['instance refresh web', 'instance refresh worker']);
    const first = (p: DeployPlan, role: string) => p.timeline.find((e) => e.kind === 'batch' && e.role === role);
    expect(first(parallel, 'worker')!.start).toBeLessThan(first(parallel, 'web')!.end);
    expect(first(serial, 'worker')!.start).toBeGreaterThanOrEqual(first(serial, 'web')!.end);
    expect(parallel.totalSeconds).toBeLessThan(serial.totalSeconds);
    expect(parallel.minHealthyPercent).toBe(100);
    // The bench's per-phase rows: the time saved is the rollout's, and the phases add up to the whole.
    const [p, q] = [rollingBreakdown(parallel), rollingBreakdown(serial)];
    expect(p.rollout).toBeLessThan(q.rollout);
    // The image exists: the bake only finds it.
    expect(p.bake).toBeLessThanOrEqual(5);
    expect(p.bake + p.snapshot + p.migrate + p.rollout + p.verify + p.other).toBe(parallel.totalSeconds);
    expect(p.other).toBeGreaterThanOrEqual(0);
  });

  test('the per-phase breakdown names the bake, the snapshot and the migration of a deploy that has them', async () => {
    const plan = await planDeploy({ ...base, deploy: { ...production, backup: 'snapshot-wait' }, database: true });
    const b = rollingBreakdown(plan);
    expect(b.bake).toBeGreaterThan(0);
    expect(b.snapshot).toBeGreaterThan(0);
    expect(b.migrate).toBeGreaterThan(0);
    expect(b.rollout).toBeGreaterThan(0);
    expect(b.bake + b.snapshot + b.migrate + b.rollout + b.verify + b.other).toBe(plan.totalSeconds);
  });
});

describe('the backup before the migration (deploy.backup)', () => {
  test('snapshot (production): the snapshot runs alongside the bake, off the critical path; snapshot-wait holds the deploy for it', async () => {
    const alongside = await planDeploy({ ...base, deploy: { ...production, backup: 'snapshot' }, database: true });
    const waited = await planDeploy({ ...base, deploy: { ...production, backup: 'snapshot-wait' }, database: true });
    const bake = (p: DeployPlan) => p.timeline.find((e) => e.kind === 'stage' && e.label.startsWith('bake'));
    const snapshotOf = (p: DeployPlan) => p.timeline.find((e) => e.kind === 'backup');
    expect(snapshotOf(alongside)).toMatchObject({ label: 'DB snapshot (alongside, no wait)' });
    // Made while the bake ran.
    expect(snapshotOf(alongside)?.start).toBeLessThanOrEqual(bake(alongside)?.start ?? -1);
    expect(snapshotOf(alongside)?.end).toBeLessThan(bake(alongside)?.end ?? 0);
    expect(snapshotOf(waited)).toMatchObject({ label: 'DB snapshot (waited for)' });
    expect(snapshotOf(waited)?.start).toBeGreaterThanOrEqual(bake(waited)?.end ?? Infinity);
    // What the backup holds the deploy for: a restore point's one call, against the snapshot's creation.
    expect(rollingBreakdown(alongside).snapshot).toBeLessThan(FAKE_TIMINGS.dbSnapshotSeconds / 3);
    expect(rollingBreakdown(waited).snapshot).toBeGreaterThanOrEqual(FAKE_TIMINGS.dbSnapshotSeconds);
    expect(alongside.totalSeconds).toBeLessThan(waited.totalSeconds - FAKE_TIMINGS.dbSnapshotSeconds / 2);
  });
});

describe('layered bake', () => {
  test('a release bake on an existing base image skips setup and herd/provision: a shorter bake than one that bakes the base first', async () => {
    const reused = await planDeploy(base);
    const rebuilt = await planDeploy({ ...base, baseExists: false });
    expect(reused).toMatchObject({ outcome: 'succeeded', bakes: true, bakesBase: false });
    expect(rebuilt).toMatchObject({ outcome: 'succeeded', bakes: true, bakesBase: true });
    const bake = (p: DeployPlan) => rollingBreakdown(p).bake;
    // The base's own builder and image come first: at least its provisioning and its image longer.
    expect(bake(rebuilt) - bake(reused)).toBeGreaterThanOrEqual(DEFAULT_TIMINGS.provisionSeconds.value + DEFAULT_TIMINGS.imageSeconds.value);
    expect(rebuilt.totalSeconds).toBeGreaterThan(reused.totalSeconds);
  });
});

describe('timings from history', () => {
  const history = [
    historyItem(1, { lock: 2, bake: 900, launchTemplate: 2, migrate: 300, rollout: 600, verify: 1, record: 4 }),
    historyItem(2, { lock: 2, bake: 1000, launchTemplate: 2, migrate: 320, rollout: 640, verify: 1, record: 4 }),
    historyItem(3, { lock: 2, bake: 1100, launchTemplate: 2, migrate: 340, rollout: 700, verify: 1, record: 4 }),
    historyItem(4, { lock: 2, launchTemplate: 2, migrate: 10, rollout: 10, verify: 1, record: 4 }, { status: 'failed' }),
    historyItem(5, { lock: 2, launchTemplate: 2, migrate: 330, rollout: 650, verify: 1, record: 4 }, { reusedImage: true }),
  ];

  test('median per phase over succeeded deploys (bake: only deploys that baked)', () => {
    expect(historyMedians(history, 'rolling')).toEqual([
      { phase: 'bake', seconds: 1000, deploys: 3 },
      { phase: 'migrate', seconds: 325, deploys: 4 },
      { phase: 'rollout', seconds: 645, deploys: 4 },
    ]);
    expect(historyMedians(history, 'full').map((m) => m.phase)).toEqual(['bake', 'migrate']);
  });

  test('medians move the prediction to match the history, and the output says "from history"', async () => {
    const defaults = await planDeploy(base);
    const plan = await planDeploy({ ...base, history });
    expect(plan.timingSource).toBe('history');
    expect(plan.calibrations.map((c) => c.parameter)).toEqual(['bakeSeconds', 'migrationSeconds', 'bootSeconds']);
    expect(plan.timings.bakeSeconds.origin).toBe('history');
    expect(plan.timings.bakeSeconds.value).toBeGreaterThan(DEFAULT_TIMINGS.bakeSeconds.value);
    expect(plan.totalSeconds).toBeGreaterThan(defaults.totalSeconds + 500);
    const phase = (p: DeployPlan, name: string) => p.phases.filter((x) => x.phase === name).reduce((s, x) => s + x.end - x.start, 0);
    // One linear correction lands within a poll interval (15–30 s) of each median.
    expect(Math.abs(phase(plan, 'bake') - 1000)).toBeLessThanOrEqual(30);
    expect(Math.abs(phase(plan, 'migrate') - 325)).toBeLessThanOrEqual(30);
    expect(Math.abs(phase(plan, 'rollout') - 645)).toBeLessThanOrEqual(45);
    expect(planSummary(plan, 'herd plan staging')).toContain('timing parameters from history');
    expect(plan.timings.bakeSeconds.source).toMatch(/^median bake phase 1000 s over 3 deploy\(s\)/);
  });
});

describe('bad input', () => {
  test('fails when a fleet\'s desired count is outside its min and max', async () => {
    await expect(planDeploy({ ...base, fleets: { web: { desired: 9, min: 2, max: 8 } } })).rejects.toThrow(
      'invalid plan input: web.desired (9) must be between min (2) and max (8)',
    );
  });

  test('fails when min > max and a count is negative, naming every problem', async () => {
    await expect(planDeploy({ ...base, fleets: { web: { desired: 2, min: 3, max: 2 }, worker: { desired: -1, min: 0, max: 1 } } })).rejects.toThrow(
      'invalid plan input: web.min (3) must be <= web.max (2); web.desired (2) must be between min (3) and max (2); worker.desired must be an integer from 0 to 500 (received -1); worker.desired (-1) must be between min (0) and max (1)',
    );
  });

  test('fails when a rolling deploy is asked to migrate inside a maintenance window', async () => {
    await expect(planDeploy({ ...base, strategy: 'rolling', migrationOrder: 'maintenance' })).rejects.toThrow(
      'invalid plan input: migrationOrder "maintenance" needs strategy "full" (a rolling deploy has no maintenance window)',
    );
  });
});
