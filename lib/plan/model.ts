/**
 * `planDeploy`: predicts a deploy by running the deploy step's REAL advance logic
 * (`lambda/deploy/`) against the fake cloud (`lib/simulation/`) seeded with the
 * environment's fleet sizes and settings, under timing parameters (defaults, config or the
 * environment's history). The Step Functions loop, its waits and the step's own polling
 * intervals are those of the real deploy, so the prediction is what that deploy does when
 * AWS behaves as the timing parameters say.
 */
import type { DeployConfig, DeployStrategy, MigrationOrder, Role } from '../config/types';
import type { HistoryItem } from '../../lambda/deploy/lock';
import type { DeployOutcome, DeployState, Phase } from '../../lambda/deploy/state';
import { NO_RELEASE, TAGS } from '../names';
import type { FakeCloud } from '../simulation/fake-cloud';
import { runSimulatedDeploy } from '../simulation/run';
import { createWorld, type World, type WorldSpec } from '../simulation/world';
import {
  DEFAULT_TIMINGS,
  historyMedians,
  timingValues,
  withTimings,
  type PhaseMedian,
  type TimingName,
  type TimingTable,
} from './timings';

/** A group's size as DescribeAutoScalingGroups reports it. */
export interface FleetSize {
  readonly desired: number;
  readonly min: number;
  readonly max: number;
}

/** The configured floor and ceiling of a fleet (`web.minCapacity` / `maxCapacity`). */
export interface FleetFloor {
  readonly min: number;
  readonly max: number;
}

export interface PlanInput {
  readonly app?: string;
  readonly env?: string;
  /** Release to deploy (only names things). */
  readonly release?: string;
  /** Release serving now; `none` (NO_RELEASE) for an environment before its first release. */
  readonly serving?: string;
  readonly fleets: { readonly web: FleetSize; readonly worker?: FleetSize };
  /** Configured floors/ceilings; default: the groups' own MinSize/MaxSize. */
  readonly configured?: { readonly web?: FleetFloor; readonly worker?: FleetFloor };
  /** The environment's resolved deploy settings. */
  readonly deploy: DeployConfig;
  /** Per-deploy overrides (`herd plan --strategy`). */
  readonly strategy?: DeployStrategy;
  readonly migrationOrder?: MigrationOrder;
  /** The release's image already exists (rollback, promotion): no bake. */
  readonly imageExists: boolean;
  /**
   * Layered bake: the base image of the release's Amazon Linux image and `herd/provision`
   * exists (default: provisioning unchanged since the last bake). False: a new base is baked
   * first (Amazon Linux moved on, herd/provision changed, `herd bake --base`).
   */
  readonly baseExists?: boolean;
  /** The release's Procfile has a `release:` line (migrations run). */
  readonly releaseCommand: boolean;
  /** The environment has a database (backed up as `deploy.backup` says). Default: `deploy.backup` is not `none`. */
  readonly database?: boolean;
  readonly alarms?: readonly string[];
  /** An operator's maintenance page is up before the deploy. */
  readonly maintenanceOn?: boolean;
  /** Timing parameters; default `DEFAULT_TIMINGS`. */
  readonly timings?: TimingTable;
  /** The environment's deploy history: phase medians replace bake, migration and instance-ready times. */
  readonly history?: readonly HistoryItem[];
}

export type TimelineKind = 'stage' | 'batch' | 'checkpoint' | 'maintenance' | 'backup';

export interface TimelineEntry {
  readonly kind: TimelineKind;
  readonly label: string;
  /** Seconds from the start of the deploy. */
  readonly start: number;
  readonly end: number;
  readonly role?: Role;
  readonly detail?: string;
}

export interface PlanPhase {
  readonly phase: Phase;
  readonly start: number;
  readonly end: number;
}

export interface HistoryCalibration {
  readonly median: PhaseMedian;
  readonly parameter: TimingName;
  /** The phase as modelled with the timings before this correction. */
  readonly modelledSeconds: number;
  readonly before: number;
  readonly after: number;
}

export interface DeployPlan {
  readonly strategy: DeployStrategy;
  readonly migrationOrder: MigrationOrder;
  readonly fleets: { readonly web: number; readonly worker?: number };
  readonly bakes: boolean;
  /** The bake baked a base image first (layered bake). */
  readonly bakesBase: boolean;
  readonly migrates: boolean;
  readonly outcome: DeployOutcome;
  /** Why the modelled deploy failed (a timeout shorter than the timings, …). */
  readonly failure?: string;
  readonly timeline: readonly TimelineEntry[];
  readonly phases: readonly PlanPhase[];
  /**
   * Seconds spent at each step (`migrate.waitSnapshot`, `refresh.wait`…): from the state that
   * named it to the next one, waits and polls included. Finer than `phases`: the migrate
   * phase holds the snapshot and the runner.
   */
  readonly stepSeconds: Readonly<Record<string, number>>;
  readonly totalSeconds: number;
  /** Seconds the maintenance page is up (0 without one). */
  readonly maintenanceWindowSeconds: number;
  readonly maintenance?: { readonly on: number; readonly off: number };
  /** Lowest healthy web capacity outside a maintenance window, % of the desired count. */
  readonly minHealthyPercent: number;
  /** Seconds with no healthy web target outside a maintenance window. */
  readonly downtimeSeconds: number;
  /** Seconds with fewer healthy web targets than desired (page down). */
  readonly belowCapacitySeconds: number;
  /**
   * Seconds (page down) web instances serve code and schema out of step: the migration has
   * started while old instances serve, or new instances serve before it finished (the
   * seed's "potential downtime"; harmless when migrations are backward compatible).
   */
  readonly skewSeconds: number;
  readonly awsCalls: Readonly<Record<string, number>>;
  readonly awsCallsTotal: number;
  readonly advanceCalls: number;
  readonly timings: TimingTable;
  /** `history` when at least one parameter comes from the deploy history. */
  readonly timingSource: 'history' | 'defaults';
  readonly calibrations: readonly HistoryCalibration[];
}

/** Thrown for unusable plan input; the message names every problem. */
export class InvalidPlanInputError extends Error {
  override readonly name = 'InvalidPlanInputError';
}

const PLAN_DEPLOY_ID = 'plan-0001';

function checkInput(input: PlanInput): void {
  const problems: string[] = [];
  const fleet = (name: string, f: FleetSize | undefined) => {
    if (!f) return;
    for (const key of ['desired', 'min', 'max'] as const) {
      const v = f[key];
      if (!Number.isInteger(v) || v < 0 || v > 500) problems.push(`${name}.${key} must be an integer from 0 to 500 (received ${JSON.stringify(v)})`);
    }
    if (f.min > f.max) problems.push(`${name}.min (${f.min}) must be <= ${name}.max (${f.max})`);
    if (f.desired < f.min || f.desired > f.max) problems.push(`${name}.desired (${f.desired}) must be between min (${f.min}) and max (${f.max})`);
  };
  fleet('web', input.fleets.web);
  fleet('worker', input.fleets.worker);
  const strategy = input.strategy ?? input.deploy.strategy;
  const order = input.migrationOrder ?? input.deploy.migrationOrder;
  if (strategy === 'rolling' && order === 'maintenance' && input.migrationOrder !== undefined) {
    problems.push('migrationOrder "maintenance" needs strategy "full" (a rolling deploy has no maintenance window)');
  }
  for (const [name, p] of Object.entries(input.timings ?? {})) {
    const v = (p as { value: number }).value;
    if (!Number.isFinite(v) || v < 0) problems.push(`timing ${name} must be a number >= 0 (received ${JSON.stringify(v)})`);
  }
  if (problems.length > 0) throw new InvalidPlanInputError(`invalid plan input: ${problems.join('; ')}`);
}

/** The world a plan runs in: the fake cloud seeded as the environment is. */
function planWorld(input: PlanInput, timings: TimingTable, overrides: { imageExists?: boolean; releaseCommand?: boolean } = {}): { world: World; release: string } {
  const release = input.release ?? 'next';
  const fresh = (input.serving ?? (input.fleets.web.desired > 0 ? 'current' : NO_RELEASE)) === NO_RELEASE;
  const serving = fresh ? NO_RELEASE : input.serving && input.serving !== release ? input.serving : 'current';
  const imageExists = overrides.imageExists ?? input.imageExists;
  const releaseCommand = overrides.releaseCommand ?? input.releaseCommand;
  const processes = releaseCommand ? ['web', 'worker', 'release'] : ['web', 'worker'];
  const floor = (f: FleetSize, c: FleetFloor | undefined): FleetFloor => c ?? { min: fresh ? Math.max(1, f.min) : f.min, max: f.max };
  const spec: WorldSpec = {
    ...(input.app ? { app: input.app } : {}),
    ...(input.env ? { env: input.env } : {}),
    web: input.fleets.web.desired,
    ...(input.fleets.worker ? { worker: input.fleets.worker.desired } : {}),
    serving,
    deploy: input.deploy,
    timings: timingValues(timings),
    releases: { [release]: { processes } },
    baked: imageExists ? [release] : [],
    ...(input.baseExists === false ? { base: 'none' as const } : {}),
    capacity: {
      web: floor(input.fleets.web, input.configured?.web),
      ...(input.fleets.worker ? { worker: floor(input.fleets.worker, input.configured?.worker) } : {}),
    },
    database: input.database ?? input.deploy.backup !== 'none',
    // herd's alarms are always in the world; an environment whose refreshes name none rolls back on none.
    ...(input.alarms !== undefined && input.alarms.length === 0 ? { alarms: { rollsBack: [] } } : {}),
    maintenanceOn: input.maintenanceOn ?? false,
  };
  const world = createWorld(spec);
  // The groups as DescribeAutoScalingGroups reported them (the world's defaults otherwise).
  for (const role of ['web', 'worker'] as const) {
    const size = input.fleets[role];
    const fleet = world.env.fleets[role];
    const group = fleet ? world.cloud.groups.get(fleet.autoScalingGroupName) : undefined;
    if (size && group && !fresh) {
      group.min = size.min;
      group.max = size.max;
    }
  }
  const image = world.images[release];
  const seeded = image ? world.cloud.images.get(image) : undefined;
  if (seeded) seeded.tags[TAGS.processes] = processes.join(' ');
  return { world, release };
}

interface OpenBatch {
  role: Role;
  start: number;
  ids: string[];
  ready: Map<string, number>;
  gone: Map<string, number>;
}

/** Watches the fake cloud every virtual second: launch batches, their readiness, checkpoints, the maintenance page. */
class TimelineRecorder {
  readonly batches: OpenBatch[] = [];
  readonly checkpoints: TimelineEntry[] = [];
  /** Seconds (page down) with code and schema out of step: migration started while old web instances serve, or new ones serve before it finished. */
  skewSeconds = 0;
  private readonly known = new Set<string>();
  private readonly oldWeb = new Set<string>();
  private readonly seenCheckpoints = new Set<string>();
  /** This deploy's manual database snapshot: when it started and became available (seconds from the start). */
  private snapshot: { id: string; start: number; end?: number; status: string } | undefined;
  private migrationStarted = false;
  private migrationDone = false;

  constructor(
    private readonly world: World,
    private readonly t0: number,
    private readonly maintenanceOn: () => boolean,
  ) {
    for (const g of world.cloud.groups.values()) for (const i of g.instances) this.known.add(i.id);
    const web = world.cloud.groups.get(world.env.fleets.web.autoScalingGroupName);
    for (const i of web?.instances ?? []) this.oldWeb.add(i.id);
    world.cloud.onTick((c) => this.tick(c));
  }

  private tickSkew(cloud: FakeCloud): void {
    for (const i of cloud.instances.values()) {
      if (i.tags[TAGS.role] !== 'release' || i.tags[TAGS.deploy] !== PLAN_DEPLOY_ID) continue;
      if (i.state === 'running' || i.reported) this.migrationStarted = true;
      if (i.reported) this.migrationDone = true;
    }
    if (this.maintenanceOn()) return;
    const serving = cloud.healthyServing(this.world.env.fleets.web.autoScalingGroupName);
    const oldServing = serving.some((id) => this.oldWeb.has(id));
    const newServing = serving.some((id) => !this.oldWeb.has(id));
    if ((this.migrationStarted && oldServing && !this.migrationless) || (newServing && !this.migrationDone && !this.migrationless)) this.skewSeconds += 1;
  }

  /** Set when the modelled deploy runs no migration. */
  migrationless = false;

  private rel(ms: number): number {
    return Math.round((ms - this.t0) / 1000);
  }

  private tickSnapshot(cloud: FakeCloud, now: number): void {
    if (this.snapshot?.end !== undefined) return;
    const s = [...cloud.dbSnapshots.values()].find((x) => x.tags[TAGS.deploy] === PLAN_DEPLOY_ID && x.tags[TAGS.role] === 'backup');
    if (!s) return;
    this.snapshot ??= { id: s.id, start: now, status: s.status };
    this.snapshot.status = s.status;
    if (s.status !== 'creating') this.snapshot.end = now;
  }

  private tick(cloud: FakeCloud): void {
    this.tickSkew(cloud);
    const now = this.rel(cloud.now());
    this.tickSnapshot(cloud, now);
    for (const role of ['web', 'worker'] as const) {
      const fleet = this.world.env.fleets[role];
      if (!fleet) continue;
      const group = cloud.groups.get(fleet.autoScalingGroupName);
      if (!group) continue;
      const fresh = group.instances.filter((i) => !this.known.has(i.id));
      if (fresh.length > 0) {
        const batch: OpenBatch = { role, start: now, ids: fresh.map((i) => i.id), ready: new Map(), gone: new Map() };
        for (const i of fresh) this.known.add(i.id);
        this.batches.push(batch);
      }
      const serving = role === 'web' ? new Set(cloud.healthyServing(group.name)) : undefined;
      for (const b of this.batches.filter((x) => x.role === role)) {
        for (const id of b.ids) {
          if (b.ready.has(id) || b.gone.has(id)) continue;
          const gi = group.instances.find((i) => i.id === id);
          if (!gi) b.gone.set(id, now);
          // A staged web instance (`Pending:Wait`) is ready once it serves, from the staging target group.
          else if ((gi.lifecycle === 'InService' || gi.lifecycle === 'Pending:Wait') && (!serving || serving.has(id))) b.ready.set(id, now);
        }
      }
      for (const r of group.refreshes) {
        if (r.checkpointUntil === undefined) continue;
        const key = `${r.id}#${r.nextCheckpoint}`;
        if (this.seenCheckpoints.has(key)) continue;
        this.seenCheckpoints.add(key);
        const pct = r.preferences.CheckpointPercentages?.[r.nextCheckpoint - 1];
        this.checkpoints.push({ kind: 'checkpoint', role, label: `checkpoint ${pct ?? '?'}% (${role})`, start: now, end: this.rel(r.checkpointUntil) });
      }
    }
  }

  /**
   * `waited`: the deploy waited for the snapshot before its migration (`snapshot-wait`);
   * otherwise it ran alongside the bake, off the critical path.
   */
  entries(end: number, waited = false): TimelineEntry[] {
    const snap = this.snapshot;
    return [
      ...(snap ? [{
        kind: 'backup' as const,
        label: waited ? 'DB snapshot (waited for)' : 'DB snapshot (alongside, no wait)',
        start: snap.start,
        end: snap.end ?? end,
        detail: `${snap.id} ${snap.status}`,
      }] : []),
      ...this.batches.map((b, i) => {
        // Numbered per role: web and worker refreshed in parallel interleave their batches.
        const n = this.batches.slice(0, i).filter((o) => o.role === b.role).length;
        const done = [...b.ready.values(), ...b.gone.values()];
        const finished = done.length === b.ids.length ? Math.max(b.start, ...done) : end;
        const failed = b.ids.length - b.ready.size;
        return {
          kind: 'batch' as const,
          role: b.role,
          label: `batch ${n + 1}: ${b.ids.length} ${b.role} up`,
          start: b.start,
          end: finished,
          detail: `${b.ready.size}/${b.ids.length} in service${b.role === 'web' ? ' and healthy' : ''}${failed > 0 ? `, ${failed} never` : ''}`,
        };
      }),
      ...this.checkpoints,
    ];
  }
}

const STAGE_LABEL: Record<string, string> = {
  lock: 'lock + janitor',
  bake: 'bake (builder, image)',
  launchTemplate: 'launch template + release parameters',
  migrate: 'migrate (runner)',
  maintenanceOn: 'maintenance page on',
  replace: 'replace: new fleet up, old retired',
  stage: 'stage: new web fleet up in the staging target group, old workers stopped',
  switch: 'switch: listener to the new web fleet, new workers launched',
  settle: 'settle: old web retired, new fleet into its target group, listener back',
  hold: 'hold maintenance',
  maintenanceOff: 'maintenance page off',
  verify: 'verify',
  record: 'record (retention, history, unlock)',
  compensate: 'compensate',
};

/** Stage spans from the states the advance Lambda returned. */
function stageEntries(states: readonly { at: number; state: DeployState }[], end: number, roles: readonly Role[]): TimelineEntry[] {
  const spans: { key: string; label: string; start: number; role?: Role }[] = [];
  for (const { at, state } of states) {
    if (state.done) continue;
    const stage = state.compensation ? 'compensate' : (state.plan[state.stageIndex] ?? 'record');
    // Roles refreshed in parallel share one span (`web + worker`); one after the other, a span each.
    const refreshing = stage !== 'refresh' ? [] : state.parallelRoles ? roles.slice(Math.min(state.roleIndex, roles.length - 1)) : [roles[Math.min(state.roleIndex, roles.length - 1)] as Role];
    const role = refreshing.length === 1 ? refreshing[0] : undefined;
    const key = `${stage}#${state.stageIndex}#${refreshing.join('+')}`;
    if (spans[spans.length - 1]?.key === key) continue;
    const label = stage === 'refresh' ? `instance refresh ${refreshing.join(' + ')}` : (STAGE_LABEL[stage] ?? stage);
    spans.push({ key, label, start: spans.length === 0 ? 0 : at, ...(role ? { role } : {}) });
  }
  return spans.map((s, n) => ({ kind: 'stage' as const, label: s.label, start: s.start, end: spans[n + 1]?.start ?? end, ...(s.role ? { role: s.role } : {}) }));
}

/** Runs the model once with fixed timings. */
async function runModel(input: PlanInput, timings: TimingTable, overrides: { imageExists?: boolean; releaseCommand?: boolean; migrationOrder?: MigrationOrder } = {}): Promise<Omit<DeployPlan, 'timingSource' | 'calibrations'>> {
  const { world, release } = planWorld(input, timings, overrides);
  const t0 = world.clock.now();
  const recorder = new TimelineRecorder(world, t0, () =>
    world.cloud.maintenanceRule(world.env.loadBalancer.listenerArn, world.env.loadBalancer.maintenancePriority) !== undefined,
  );
  const states: { at: number; state: DeployState }[] = [];
  const rel = (ms: number) => Math.round((ms - t0) / 1000);
  const migrationOrder = overrides.migrationOrder ?? input.migrationOrder;
  const run = await runSimulatedDeploy(
    world,
    {
      release,
      actor: 'herd-plan',
      deployId: PLAN_DEPLOY_ID,
      ...(input.strategy ? { strategy: input.strategy } : {}),
      ...(migrationOrder ? { migrationOrder } : {}),
    },
    {
      onState: (state) => {
        states.push({ at: rel(world.clock.now()), state });
        // No `release:` in the image, or no migrate stage: nothing can put code and schema out of step.
        recorder.migrationless = !state.plan.includes('migrate') || (state.image?.processes !== undefined && !state.image.processes.includes('release'));
      },
    },
  );
  const final = run.result.state;
  if (!final) throw new InvalidPlanInputError(`the modelled deploy did not start: ${run.result.error?.message ?? 'no state'}`);
  const total = rel(run.endedAt);
  const roles: Role[] = world.env.fleets.worker ? ['web', 'worker'] : ['web'];
  const m = run.metrics;
  const maintenance =
    m.maintenanceFirstOn !== undefined ? { on: rel(m.maintenanceFirstOn), off: m.maintenanceLastOff !== undefined ? rel(m.maintenanceLastOff) : total } : undefined;
  const timeline: TimelineEntry[] = [
    ...stageEntries(states, total, roles),
    ...recorder.entries(total, input.deploy.backup === 'snapshot-wait'),
    ...(maintenance && !input.maintenanceOn ? [{ kind: 'maintenance' as const, label: 'maintenance page up', start: maintenance.on, end: maintenance.off }] : []),
  ].sort((a, b) => a.start - b.start || kindOrder(a.kind) - kindOrder(b.kind));
  const calls = world.cloud.callCounts();
  const migrates = final.plan.includes('migrate') && (final.image?.processes?.includes('release') ?? true) && final.migration !== undefined;
  return {
    strategy: final.strategy,
    migrationOrder: final.migrationOrder,
    fleets: { web: input.fleets.web.desired, ...(input.fleets.worker ? { worker: input.fleets.worker.desired } : {}) },
    bakes: final.image?.reused === false,
    bakesBase: final.base?.reused === false,
    migrates,
    outcome: final.outcome ?? 'failed',
    ...(final.failure ? { failure: final.failure.cause } : {}),
    timeline,
    phases: final.timings.map((p) => ({ phase: p.phase, start: rel(p.startedAt), end: rel(p.endedAt ?? run.endedAt) })),
    stepSeconds: stepSecondsOf(states, total),
    totalSeconds: total,
    maintenanceWindowSeconds: input.maintenanceOn ? 0 : m.maintenanceSeconds,
    ...(maintenance && !input.maintenanceOn ? { maintenance } : {}),
    minHealthyPercent: m.minHealthyPercent(),
    downtimeSeconds: m.unservedSeconds,
    belowCapacitySeconds: m.belowBaselineSeconds,
    skewSeconds: recorder.skewSeconds,
    awsCalls: calls,
    awsCallsTotal: world.cloud.calls.length,
    advanceCalls: run.result.advanceCalls,
    timings,
  };
}

/** Seconds from each state to the next, summed by the step it named (what the deploy did or waited for meanwhile). */
function stepSecondsOf(states: readonly { at: number; state: DeployState }[], end: number): Record<string, number> {
  const out: Record<string, number> = {};
  states.forEach(({ at, state }, n) => {
    if (state.done) return;
    const step = state.compensation ? (state.compensation.steps[state.compensation.index] ?? state.step) : state.step;
    out[step] = (out[step] ?? 0) + ((states[n + 1]?.at ?? end) - at);
  });
  return out;
}

/**
 * Where a rolling deploy's time goes, by what holds it: the bake, the backup before the
 * migration (`snapshot-wait`: the wait for the database to be available and for the
 * snapshot; `pitr` and `snapshot`: the restore point, and the check of the snapshot started
 * alongside the bake before `record`, ~0 once it is done by then), the migration runner, the rollout (refreshes
 * and floors), the verification (targets, then the alarm watch), and the rest (lock, launch
 * template, record).
 */
export function rollingBreakdown(plan: Pick<DeployPlan, 'stepSeconds' | 'totalSeconds'>): { bake: number; snapshot: number; migrate: number; rollout: number; verify: number; other: number } {
  const sum = (match: (step: string) => boolean) => Object.entries(plan.stepSeconds).filter(([step]) => match(step)).reduce((s, [, v]) => s + v, 0);
  const bake = sum((step) => step.startsWith('bake.'));
  const backupSteps = ['lock.snapshot', 'migrate.waitDatabase', 'migrate.snapshot', 'migrate.waitSnapshot', 'migrate.restorePoint', 'record.snapshot'];
  const snapshot = sum((step) => backupSteps.includes(step));
  const migrate = sum((step) => step.startsWith('migrate.') && !backupSteps.includes(step));
  const rollout = sum((step) => step.startsWith('refresh.'));
  const verify = sum((step) => step.startsWith('verify.'));
  return { bake, snapshot, migrate, rollout, verify, other: plan.totalSeconds - bake - snapshot - migrate - rollout - verify };
}

/**
 * Launch batches the rollout waits on one after another: a batch that overlaps the one before
 * (web and worker rolling in parallel) adds no wait of its own.
 */
function sequentialBatches(timeline: readonly TimelineEntry[]): number {
  let count = 0;
  let until = -Infinity;
  for (const b of timeline.filter((e) => e.kind === 'batch').sort((x, y) => x.start - y.start)) {
    if (b.start < until) continue;
    count += 1;
    until = b.end;
  }
  return count;
}

function kindOrder(kind: TimelineKind): number {
  return ['stage', 'maintenance', 'backup', 'batch', 'checkpoint'].indexOf(kind);
}

/** Seconds of `phase` in a modelled plan (summed over its parts). */
function modelledPhase(plan: Pick<DeployPlan, 'phases'>, phase: string): number {
  return plan.phases.filter((p) => p.phase === phase).reduce((s, p) => s + (p.end - p.start), 0);
}

const PARAMETER_OF: Record<PhaseMedian['phase'], TimingName> = { bake: 'bakeSeconds', migrate: 'migrationSeconds', rollout: 'bootSeconds' };

/**
 * Timing parameters from the environment's deploy history. For each calibrated phase with
 * a median (bake → builder bake time, migrate → migration time, rollout → instance boot),
 * the model is run with the timings so far (baking and migrating, so every phase exists)
 * and the parameter is shifted by the gap between the median and the modelled phase:
 * `bake` and `migrate` one-for-one, `rollout` divided by the number of launch batches the
 * modelled rollout waits on one after another (each waits one boot). Boot time also counts
 * in the migrate phase (the runner boots), so the correction is repeated (at most
 * `CALIBRATION_PASSES` times) until every modelled phase is within `CALIBRATION_TOLERANCE`
 * seconds of its median.
 */
export async function calibrateFromHistory(input: PlanInput, base: TimingTable): Promise<{ timings: TimingTable; calibrations: HistoryCalibration[] }> {
  const strategy = input.strategy ?? input.deploy.strategy;
  const medians = historyMedians(input.history ?? [], strategy);
  if (medians.length === 0) return { timings: base, calibrations: [] };
  const order = input.migrationOrder ?? input.deploy.migrationOrder;
  const probeOverrides = { imageExists: false, releaseCommand: true, ...(order === 'none' ? { migrationOrder: 'before' as const } : {}) };
  const values: Partial<Record<TimingName, number>> = {};
  const modelled = new Map<TimingName, number>();
  let timings = base;
  // The values of the pass that came closest: the deploy step's polls space out as a wait
  // lasts (a tenth of it), so a long phase moves in steps of a poll and may never land
  // within the tolerance; the last correction is then not the best.
  let best: { worst: number; values: Partial<Record<TimingName, number>> } | undefined;
  for (let pass = 0; pass < CALIBRATION_PASSES; pass++) {
    const probe = await runModel(input, timings, probeOverrides);
    const waves = Math.max(1, sequentialBatches(probe.timeline));
    let settled = true;
    let worst = 0;
    const tried = { ...values };
    for (const median of medians) {
      const parameter = PARAMETER_OF[median.phase];
      const phase = modelledPhase(probe, median.phase);
      if (pass === 0) modelled.set(parameter, phase);
      const gap = median.seconds - phase;
      worst = Math.max(worst, Math.abs(gap));
      if (Math.abs(gap) <= CALIBRATION_TOLERANCE) continue;
      settled = false;
      const current = timings[parameter].value;
      values[parameter] = Math.max(1, Math.round(current + (median.phase === 'rollout' ? gap / waves : gap)));
    }
    if (pass > 0 && (!best || worst < best.worst)) best = { worst, values: tried };
    if (settled) break;
    timings = withTimings(base, values, 'history', () => 'calibrating');
  }
  if (best) {
    for (const key of Object.keys(values) as TimingName[]) delete values[key];
    Object.assign(values, best.values);
  }
  const calibrations: HistoryCalibration[] = medians.map((median) => {
    const parameter = PARAMETER_OF[median.phase];
    return { median, parameter, modelledSeconds: modelled.get(parameter) ?? 0, before: base[parameter].value, after: values[parameter] ?? base[parameter].value };
  });
  const final = withTimings(
    base,
    Object.fromEntries(calibrations.map((c) => [c.parameter, c.after])),
    'history',
    (name) => {
      const c = calibrations.find((x) => x.parameter === name);
      return c ? `median ${c.median.phase} phase ${c.median.seconds} s over ${c.median.deploys} deploy(s); modelled ${c.modelledSeconds} s at ${c.before} s → ${c.after} s` : name;
    },
  );
  return { timings: final, calibrations };
}

/** Model runs a history calibration may take. */
const CALIBRATION_PASSES = 8;
/** Seconds a calibrated phase may differ from its median (the deploy step polls every 10–30 s). */
const CALIBRATION_TOLERANCE = 5;

/** Predicts one deploy. */
export async function planDeploy(input: PlanInput): Promise<DeployPlan> {
  checkInput(input);
  const base = input.timings ?? DEFAULT_TIMINGS;
  const { timings, calibrations } = await calibrateFromHistory(input, base);
  const plan = await runModel(input, timings);
  return { ...plan, timingSource: calibrations.length > 0 ? 'history' : 'defaults', calibrations };
}
