/**
 * The deploy's state: JSON that travels through Step Functions between advance calls.
 * Keep it small (Step Functions caps a payload at 256 KB): ids, numbers and short text only.
 */
import type { DeployStrategy, MigrationOrder, Role } from '../../lib/config/types';
import { RELEASE_ID_PATTERN } from '../../lib/release-id';
import { DEPLOY_STRATEGIES, MIGRATION_ORDERS } from '../../lib/config/types';
import { InvalidDeployInputError } from './errors';
import type { RestorePoint } from './restore-point';

/** What `herd deploy` (or any CI) passes as the Step Functions execution input. */
export interface DeployInput {
  /** Release id (content-addressed, optionally with a label): `[A-Za-z0-9._-]{1,64}`. */
  readonly release: string;
  /** S3 key of the artifact; default `<artifactPrefix><release>.tar.gz`. Only read when the release is not baked yet. */
  readonly artifactKey?: string;
  readonly strategy?: DeployStrategy;
  readonly migrationOrder?: MigrationOrder;
  /** Who deploys (IAM user, CI job…), recorded in the lock and the history. */
  readonly actor: string;
  /** Deploy id; the CLI passes the execution name. Generated when absent. */
  readonly deployId?: string;
  /**
   * `bake`: prepare the release's image only (lock → bake → record); no server changes.
   * `restart`: replace the instances of `roles` with fresh ones of the serving release (same
   * image and launch-template version; no bake, no migration), so they load the settings anew;
   * `release` must be the serving release. Default `deploy`.
   */
  readonly mode?: DeployMode;
  /** `restart`: the roles whose instances are replaced (default: every role). */
  readonly roles?: readonly Role[];
  /** Deploy even if the release serves already (every instance replaced). */
  readonly force?: boolean;
  /** Start even if a rollback alarm is in ALARM (recorded in the history). */
  readonly ignoreAlarms?: boolean;
  /**
   * Bake a new base image even if one of the same identity exists (`herd bake --base`):
   * `herd/provision` fetched newer packages, say. Only when the release is baked (deploy or bake).
   */
  readonly rebuildBase?: boolean;
}

/** What a run of the deploy step does: a whole deploy, or only the image (`herd bake`). */
export type DeployMode = 'deploy' | 'bake' | 'restart';
export const DEPLOY_MODES: readonly DeployMode[] = ['deploy', 'bake', 'restart'];
/** The roles a restart may name. */
export const RESTART_ROLES: readonly Role[] = ['web', 'worker'];

/**
 * Outcome of a finished deploy:
 * - `succeeded`: the release serves;
 * - `unchanged`: the release served already, nothing was done (deploy again with `force`);
 * - `failed`: it failed and compensation put the previous release back (or nothing had changed);
 * - `needs-attention`: it failed and a compensation step failed for good: the lock stays
 *   held with the reason, and `herd repair` runs the compensation again;
 * - `aborted`: an operator stopped it (`herd abort`) and compensation put the previous release back.
 */
export type DeployOutcome = 'succeeded' | 'unchanged' | 'failed' | 'needs-attention' | 'aborted';

/** Coarse phases, for timings and progress. */
export type Phase = 'lock' | 'bake' | 'launchTemplate' | 'migrate' | 'rollout' | 'verify' | 'record' | 'compensate';

/** Ordered stages a deploy goes through; computed once from strategy and migration order. */
export type Stage =
  | 'lock'
  | 'bake'
  | 'launchTemplate'
  | 'migrate'
  | 'refresh'
  | 'maintenanceOn'
  | 'replace'
  | 'stage'
  | 'switch'
  | 'settle'
  | 'hold'
  | 'maintenanceOff'
  | 'verify'
  | 'record';

export interface PhaseTiming {
  phase: Phase;
  /** Epoch milliseconds. */
  startedAt: number;
  endedAt?: number;
}

/** A group's capacity settings as a deploy found them. */
export interface GroupCapacity {
  desired: number;
  min: number;
  max: number;
}

/** What a `full` deploy recorded about a group before scaling it out. */
export interface GroupSnapshot extends GroupCapacity {
  /** Instances of the previous release, terminated once the new ones are healthy. */
  oldInstanceIds: string[];
  /** Instances of the new release to bring up: the desired count raised to the configured floor. Absent in states of older versions (= desired). */
  target?: number;
  /**
   * Processes herd suspended on the group for the replacement, and resumes after it: those of
   * `FULL_SUSPENDED_PROCESSES` an operator had not suspended already (theirs stay suspended).
   * Absent in states of older versions (= all of them).
   */
  suspendedByHerd?: string[];
}

/** What a `full` deploy that switches target groups did so far (`switch.ts`); compensation reads it. */
export interface SwitchState {
  /** When this deploy registered each new web instance in the staging target group (epoch ms), by id. */
  registered: Record<string, number>;
  /** The launch hook that holds the new web instances out of the web target group is (or may be) on the group. */
  hooked?: boolean;
  /** The old workers were stopped (the worker group at 0) before the page went up. */
  workersStopped?: boolean;
  /** The listener (and the bypass rules) forward to the staging target group: the new fleet serves. */
  switched?: boolean;
  switchedAt?: number;
  /** The worker group was pointed at the new version after the switch. */
  workersStarted?: boolean;
  /** The old web instances are being (or were) terminated: switching back to them is no longer possible. */
  retiring?: boolean;
  /** The listener forwards to the web target group again, where the new fleet now serves. */
  back?: boolean;
}

/** Marker so the handler tells a state from an input. */
export const STATE_KIND = 'herd-deploy-state';

/** One instance that failed its health check: DescribeTargetHealth's reason and description. */
export interface HealthFailure {
  instanceId: string;
  reason: string;
  description?: string;
}

/** An unhealthy release's diagnosis: the instances that failed for one reason and the tail of the last one's boot log. */
export interface Diagnosis {
  role: Role;
  release: string;
  /** `TargetHealth.Reason` (`Target.ResponseCodeMismatch`…). */
  reason: string;
  /** `TargetHealth.Description` (`Health checks failed with these codes: [502]`). */
  description?: string;
  instances: string[];
  logGroup: string;
  /** The stream quoted (the last failed instance's id). */
  logStream?: string;
  /** Its last lines, oldest first. */
  logTail: string[];
  /** Why no log could be read, if none. */
  logError?: string;
  at: number;
}

export interface DeployState {
  kind: typeof STATE_KIND;
  deployId: string;
  app: string;
  env: string;
  release: string;
  artifactKey: string;
  strategy: DeployStrategy;
  migrationOrder: MigrationOrder;
  actor: string;
  /** `bake` for an image-only run, `restart` for `herd restart`; absent for a deploy. */
  mode?: 'bake' | 'restart';
  /** `restart`: the roles whose instances are replaced (absent: every role). */
  roles?: Role[];
  /** Deploy even if the release serves already. */
  force?: boolean;
  /** Rollback alarms in ALARM when the deploy started, which it was asked to ignore (`ignoreAlarms`). */
  ignoredAlarms?: string[];
  /** The deploy was asked to start even if a rollback alarm is in ALARM. */
  ignoreAlarms?: boolean;
  /** Epoch milliseconds. */
  startedAt: number;
  plan: Stage[];
  stageIndex: number;
  /** Current step, e.g. `bake.waitImage`. */
  step: string;
  /** Deadline of the current wait (epoch ms), set when the wait begins. */
  deadline?: number;
  /** Step the deadline belongs to. */
  deadlineStep?: string;
  /** When the current wait began (epoch ms): polls space out as it lasts (`pollSeconds`). */
  waitStartedAt?: number;
  /** When the current step first found its builder or runner gone without a readable report (epoch ms). */
  reportMissingSince?: number;
  /** Seconds the state machine waits before the next advance (0 = at once). */
  waitSeconds: number;
  /** True when the execution should end; `outcome` says how. */
  done: boolean;
  outcome?: DeployOutcome;
  /** Consecutive failed tries of the current step (`retries.ts`). */
  transientErrors: number;
  /** When the current step's series of failed tries began (epoch ms). */
  erroringSince?: number;
  timings: PhaseTiming[];
  image?: { imageId: string; reused: boolean; processes?: string[]; /** When this deploy called CreateImage (epoch ms). */ createdAt?: number };
  /**
   * Layered bake (`base-image.ts`): the base image the release's builder boots from. Absent
   * before `bake.base` ran, and when the artifact carries no provision hash (baked from
   * Amazon Linux in one go). `baking`: this deploy bakes it now (its builder, its image).
   */
  base?: {
    key: string;
    sourceImageId: string;
    provision: string;
    scripts: string;
    imageId?: string;
    /** An existing base was used (false: this deploy baked it). */
    reused?: boolean;
    baking?: boolean;
    /** When this deploy called CreateImage for it (epoch ms). */
    createdAt?: number;
  };
  /** Bake a new base image even if one of the same identity exists (`herd bake --base`). */
  rebuildBase?: boolean;
  builderId?: string;
  /** When this deploy launched its builder (epoch ms): EC2 may not show it for a while. */
  builderLaunchedAt?: number;
  /** What served before this deploy; compensation restores it. */
  previous?: { imageId: string; release: string; versions: Partial<Record<Role, string>> };
  /** Launch template versions this deploy created. */
  next?: { versions: Partial<Record<Role, string>>; /** When the versions were created (epoch ms). */ createdAt?: number };
  parametersWritten?: boolean;
  migration?: {
    snapshotId?: string; runnerId?: string; /** When this deploy launched the runner (epoch ms). */ runnerLaunchedAt?: number; exitCode?: number; done?: boolean;
    /** The role keeper ran after the migration (`role-keeper.ts`). */
    rolesKept?: boolean;
  };
  /**
   * The backup before the migration in `deploy.backup` `pitr` and `snapshot` (`restore-point.ts`,
   * `backups.ts`); `snapshot-wait` records its snapshot in `migration.snapshotId`.
   */
  backup?: {
    /** The database instance. */
    instance?: string;
    /** `snapshot`: the manual snapshot started alongside the bake, once RDS accepted it. */
    snapshotId?: string;
    /** When it was started (epoch ms): it holds the data as of then. */
    snapshotStartedAt?: number;
    /** Its status when last read (`creating`, `available`, `failed`…). */
    snapshotStatus?: string;
    /** Why it could not be started yet (the instance was `backing-up`…): tried again before the migration, never waited for. */
    snapshotDeferred?: string;
    /** The point in time to restore to: just before the migration. */
    restorePoint?: RestorePoint;
  };
  /** Index into the roles being refreshed (rolling): the first role not done yet. */
  roleIndex: number;
  /**
   * The rolling rollout refreshes its roles at the same time (`deploy.rolling.parallelRoles`),
   * not one after the other. Absent in states of older versions: one after the other.
   */
  parallelRoles?: boolean;
  /** Roles a restart found running no instance: nothing to refresh there. */
  skipped?: Role[];
  /** Instance refreshes this deploy started, by role. */
  refreshes: Partial<Record<Role, string>>;
  /** Roles whose refresh succeeded. */
  refreshed: Role[];
  /**
   * `rolling`: groups this deploy moved to their configured floor (MinSize/MaxSize, desired
   * raised to the minimum), with their capacity before; compensation puts it back.
   */
  floors?: Partial<Record<Role, GroupCapacity>>;
  /** Builders/runners of earlier deploys the janitor terminated. */
  leftoversTerminated?: number;
  /** `full` deploy bookkeeping. */
  full?: {
    groups?: Partial<Record<Role, GroupSnapshot>>;
    scaledOut?: boolean;
    oldTerminated?: boolean;
    restored?: boolean;
    /** The new web fleet staged in the staging target group, and the switch to it (`switch.ts`). */
    switch?: SwitchState;
  };
  maintenance?: { wasOnBefore: boolean; onAt?: number; offAt?: number; holdUntil?: number };
  /**
   * New-release instances failing their load-balancer health check (`diagnose.ts`): `watching`,
   * those whose target is unhealthy now, by id; `failed`, those Auto Scaling then replaced.
   */
  unhealthy?: { watching: Record<string, Omit<HealthFailure, 'instanceId'>>; failed: HealthFailure[]; /** Faster polls made so far (`fastPollAllowance`). */ fastPolls?: number };
  /** Why the deploy judged the release unhealthy (`diagnose.ts`), once it stopped for it. */
  diagnosis?: Diagnosis;
  failure?: { phase: Phase; step: string; cause: string; at: number };
  /** Compensation: its steps, where it is, and the steps that failed for good (`errors`: the deploy then needs attention). */
  compensation?: { steps: string[]; index: number; errors: string[]; refreshes: Partial<Record<Role, string>> };
  /**
   * What the environment was like when the deploy started (pre-flight), recorded in the
   * history item too: each group's capacity, version and suspended processes (an operator's
   * are never resumed), and who owned a maintenance page that was up.
   */
  before?: {
    groups: Partial<Record<Role, GroupCapacity & { version?: string; suspended: string[] }>>;
    pageOwner?: string;
  };
  /** Until when the rollback alarms are watched after the release serves everyone (epoch ms; `alarm-watch.ts`). */
  watchUntil?: number;
  /** Who stopped the deploy with `herd abort` (the reaper's resume compensates it). */
  abortedBy?: string;
  retention?: { deregistered: string[]; pending?: { imageId: string; snapshotIds: string[] }[]; done?: boolean };
  /** Pre-migration snapshots retention deleted (`backups.ts`). */
  backups?: { deleted: string[]; pending?: string[]; done?: boolean };
  warnings: string[];
  /** Set by the state machine's Catch (ResultPath `$.lambdaError`) after the advance Lambda failed for good. */
  lambdaError?: { Error?: string; Cause?: string };
  /**
   * Set by the reaper (`reaper.ts`) on the last state of an execution that ended abnormally
   * (stopped, timed out, history limit, …): the new execution it starts finishes the deploy's
   * bookkeeping, or compensates what it did.
   */
  abandoned?: { executionArn: string; status: string; cause?: string; /** The operator whose `herd abort` stopped it. */ abortedBy?: string };
  /** Executions the reaper started to finish this deploy (it gives up after `MAX_RESUMES`). */
  resumes?: number;
  /**
   * Set by `herd repair` on the last state of a deploy that needs attention (or that the
   * reaper gave up on): the execution it starts runs the compensation again from its start.
   */
  repair?: { actor: string };
  /** Repairs run so far (names the repair executions). */
  repairs?: number;
}

const DEPLOY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9-]{0,39}$/;

function isObj(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Validates a Step Functions input; throws `InvalidDeployInputError` naming every bad field. */
export function parseDeployInput(value: unknown): DeployInput {
  if (!isObj(value)) throw new InvalidDeployInputError(`deploy input must be an object (received ${JSON.stringify(value)})`);
  const problems: string[] = [];
  const { release, artifactKey, strategy, migrationOrder, actor, deployId, mode, force, ignoreAlarms, roles, rebuildBase } = value;
  if (typeof release !== 'string' || !RELEASE_ID_PATTERN.test(release)) {
    problems.push(`release must match ${RELEASE_ID_PATTERN} (received ${JSON.stringify(release)})`);
  }
  if (artifactKey !== undefined && (typeof artifactKey !== 'string' || artifactKey.length === 0 || artifactKey.startsWith('/'))) {
    problems.push(`artifactKey must be an S3 key without a leading slash (received ${JSON.stringify(artifactKey)})`);
  }
  if (strategy !== undefined && !(DEPLOY_STRATEGIES as readonly unknown[]).includes(strategy)) {
    problems.push(`strategy must be one of ${DEPLOY_STRATEGIES.join(', ')} (received ${JSON.stringify(strategy)})`);
  }
  if (migrationOrder !== undefined && !(MIGRATION_ORDERS as readonly unknown[]).includes(migrationOrder)) {
    problems.push(`migrationOrder must be one of ${MIGRATION_ORDERS.join(', ')} (received ${JSON.stringify(migrationOrder)})`);
  }
  if (typeof actor !== 'string' || actor.length === 0 || actor.length > 200) {
    problems.push(`actor must be a non-empty string of at most 200 characters (received ${JSON.stringify(actor)})`);
  }
  if (deployId !== undefined && (typeof deployId !== 'string' || !DEPLOY_ID_PATTERN.test(deployId))) {
    problems.push(`deployId must match ${DEPLOY_ID_PATTERN} (received ${JSON.stringify(deployId)})`);
  }
  if (mode !== undefined && !(DEPLOY_MODES as readonly unknown[]).includes(mode)) {
    problems.push(`mode must be one of ${DEPLOY_MODES.join(', ')} (received ${JSON.stringify(mode)})`);
  }
  if (force !== undefined && typeof force !== 'boolean') problems.push(`force must be true or false (received ${JSON.stringify(force)})`);
  if (ignoreAlarms !== undefined && typeof ignoreAlarms !== 'boolean') problems.push(`ignoreAlarms must be true or false (received ${JSON.stringify(ignoreAlarms)})`);
  if (rebuildBase !== undefined && typeof rebuildBase !== 'boolean') problems.push(`rebuildBase must be true or false (received ${JSON.stringify(rebuildBase)})`);
  if (rebuildBase === true && mode === 'restart') problems.push('rebuildBase is for a deploy or a bake: a restart bakes nothing');
  if (roles !== undefined) {
    const valid = Array.isArray(roles) && roles.length > 0 && roles.every((r) => (RESTART_ROLES as readonly unknown[]).includes(r)) && new Set(roles).size === roles.length;
    if (mode !== 'restart') problems.push(`roles is for mode restart only (received mode ${JSON.stringify(mode)})`);
    else if (!valid) problems.push(`roles must be a non-empty list of distinct roles among ${RESTART_ROLES.join(', ')} (received ${JSON.stringify(roles)})`);
  }
  if (mode === 'restart' && (strategy !== undefined || migrationOrder !== undefined || force !== undefined)) {
    problems.push('a restart takes no strategy, migrationOrder or force: it refreshes the serving release in place, without migration');
  }
  if (problems.length > 0) throw new InvalidDeployInputError(`invalid deploy input: ${problems.join('; ')}`);
  return value as unknown as DeployInput;
}

/** Type guard for a state returned by an earlier advance (shallow: the fields the dispatcher reads). */
export function isDeployState(value: unknown): value is DeployState {
  return (
    isObj(value) &&
    value.kind === STATE_KIND &&
    typeof value.deployId === 'string' &&
    typeof value.step === 'string' &&
    Array.isArray(value.plan) &&
    typeof value.stageIndex === 'number' &&
    typeof value.startedAt === 'number' &&
    typeof value.release === 'string'
  );
}

/**
 * Stages of a deploy, in order. `staged`: a `full` deploy boots its new web fleet in the
 * staging target group before the page goes up and switches the listener to it
 * (`switch.ts`); otherwise (no staging group) the new fleet boots behind the page (`replace`).
 */
export function planStages(strategy: DeployStrategy, order: MigrationOrder, staged = false): Stage[] {
  if (strategy === 'rolling') {
    if (order === 'maintenance') {
      throw new InvalidDeployInputError('migrationOrder "maintenance" needs strategy "full" (a rolling deploy has no maintenance window)');
    }
    const rollout: Stage[] = order === 'after' ? ['refresh', 'migrate'] : order === 'before' ? ['migrate', 'refresh'] : ['refresh'];
    return ['lock', 'bake', 'launchTemplate', ...rollout, 'verify', 'record'];
  }
  const before: Stage[] = order === 'before' ? ['migrate'] : [];
  if (staged) {
    const window: Stage[] =
      order === 'maintenance' ? ['maintenanceOn', 'migrate', 'switch'] : order === 'after' ? ['maintenanceOn', 'switch', 'migrate'] : ['maintenanceOn', 'switch'];
    return ['lock', 'bake', 'launchTemplate', ...before, 'stage', ...window, 'hold', 'maintenanceOff', 'settle', 'verify', 'record'];
  }
  const window: Stage[] =
    order === 'maintenance' ? ['maintenanceOn', 'migrate', 'replace'] : order === 'after' ? ['maintenanceOn', 'replace', 'migrate'] : ['maintenanceOn', 'replace'];
  return ['lock', 'bake', 'launchTemplate', ...before, ...window, 'hold', 'maintenanceOff', 'verify', 'record'];
}

/**
 * Stages of a restart: the serving versions recorded (`launchTemplate.read`; no new version,
 * no parameter written), an instance refresh to them that replaces every instance, verified,
 * recorded. No bake, no migration.
 */
export const RESTART_STAGES: readonly Stage[] = ['lock', 'launchTemplate', 'refresh', 'verify', 'record'];

/** Stages of a bake-only run: the image, recorded; nothing serves it yet. */
export const BAKE_ONLY_STAGES: readonly Stage[] = ['lock', 'bake', 'record'];

/** Phase a stage's time counts towards. */
export function phaseOf(stage: Stage): Phase {
  switch (stage) {
    case 'refresh':
    case 'maintenanceOn':
    case 'replace':
    case 'stage':
    case 'switch':
    case 'settle':
    case 'hold':
    case 'maintenanceOff':
      return 'rollout';
    default:
      return stage;
  }
}

/** First step of each stage. */
export const FIRST_STEP: Record<Stage, string> = {
  lock: 'lock.acquire',
  bake: 'bake.find',
  launchTemplate: 'launchTemplate.read',
  migrate: 'migrate.start',
  refresh: 'refresh.start',
  maintenanceOn: 'maintenance.on',
  replace: 'replace.record',
  stage: 'stage.record',
  switch: 'switch.listener',
  settle: 'settle.retireOld',
  hold: 'hold.wait',
  maintenanceOff: 'maintenance.off',
  verify: 'verify.targets',
  record: 'record.snapshot',
};
