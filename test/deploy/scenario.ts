/** Scenario files (`scenarios/*.json`): what they hold and how one runs. */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { handle } from '../../lambda/deploy/handler';
import type { DeployState } from '../../lambda/deploy/state';
import { runExecution, type ExecutionResult } from '../../lib/simulation/driver';
import type { ServiceMetrics } from '../../lib/simulation/metrics';
import { reapSimulated, runSimulatedDeploy, type Reaping } from '../../lib/simulation/run';
import { createWorld, type World, type WorldSpec } from '../../lib/simulation/world';
import type { ApiFault } from '../../lib/simulation/fake-cloud';
import { MANUAL_OWNER, maintenanceOn, maintenanceStatus, takeOverPage } from '../../lambda/deploy/maintenance';
import { consoleAdministrator, operatorPrincipals } from '../support/iam/operator';
import { checkWorldIam, type IamCheck } from '../support/iam/world-iam';
import { FULL_SUSPENDED_PROCESSES } from '../../lambda/deploy/rollout';
import { Observation } from './observation';
import { applyEvent, type ScenarioEvent } from './scenario-events';

export interface ScenarioFaults {
  /**
   * Every API's attempts number 1, 1+N, 1+2N… are throttled (counted per HTTP attempt, as AWS
   * counts requests): the SDK's retry strategy meets them first, as in AWS.
   */
  readonly throttleEvery?: number;
  readonly retryAfterSideEffect?: 'all' | readonly string[];
  /** A second `herd deploy` starts when the first reaches this step. */
  readonly secondDeploy?: { readonly atStep: string; readonly actor: string; readonly release: string };
  /** Errors APIs answer (`FakeCloud.faults`: a permission removed, an outage), from the start or once the deploy reaches `fromStep`. */
  readonly apiFaults?: readonly (ApiFault & { readonly fromStep?: string })[];
  /** What an operator does when the deploy reaches a step. */
  readonly operator?: { readonly atStep: string; readonly action: 'takeOverPage' | 'putPageUp' };
  /** Once the deploy ended (needs attention): the faults are fixed and `herd repair` runs; the expectations are of the end of the repair. */
  readonly repairAfter?: { readonly actor: string };
  /** What AWS, the fleet and operators do when the deploy reaches a step (`scenario-events.ts`), in order. */
  readonly events?: readonly ScenarioEvent[];
  /**
   * The advance Lambda fails (Lambda.ServiceException) on every call from the first time the
   * deploy reaches `fromStep`, for `forSeconds` of virtual time.
   */
  readonly lambdaDown?: { readonly fromStep: string; readonly forSeconds: number };
}

export interface ScenarioExpectations {
  /** The deploy's outcome; `refused`: a pre-flight check refused it before any change (`refusedWith`). */
  readonly outcome: 'succeeded' | 'unchanged' | 'failed' | 'needs-attention' | 'aborted' | 'refused';
  /** A pattern of the refusal's message. */
  readonly refusedWith?: string;
  /** Processes suspended on each group at the end (default none). */
  readonly suspendedAtEnd?: { readonly web?: readonly string[]; readonly worker?: readonly string[] };
  /** Owner of the maintenance page at the end, when one is up (`manual`: an operator's). */
  readonly maintenanceOwnerAtEnd?: string;
  /** The lock at the end holds this reason (a deploy that needs attention). */
  readonly needsAttention?: string;
  /** The release every instance and the release parameters end on; absent for a deploy left half done (needs attention). */
  readonly serving?: string;
  readonly cause?: string;
  /** A pattern of the cause, where a number in it depends on timings (e.g. an alarm's datapoints). */
  readonly causePattern?: string;
  /** The deploy ends within this many (virtual) minutes of its start, compensation included. */
  readonly maxMinutes?: number;
  /** The lock is still held at the end without a reason (its release failed for good). */
  readonly lockHeldAtEnd?: boolean;
  readonly minHealthyPercent?: number;
  readonly builders?: number;
  readonly webUnchanged?: boolean;
  readonly maintenanceOnAtEnd?: boolean;
  readonly maintenanceWindowBelowBake?: boolean;
  /**
   * Seconds the maintenance page may stay up beyond the migration phase (the `migrate` phase's
   * timing): a `full` deploy's window holds the migration and a few seconds, whatever the fleet size.
   */
  readonly windowBeyondMigrationAtMost?: number;
  /** Seconds the maintenance page may be up in all (0: it never went up). */
  readonly maintenanceWindowAtMost?: number;
  readonly secondDeployError?: string;
  readonly deregistered?: readonly string[];
  readonly kept?: readonly string[];
  /** Every API the deploy called was throttled at least once (calls are HTTP attempts, as AWS counts them). */
  readonly everyApiThrottled?: boolean;
  /**
   * Whether throttling got past the SDK's own retries to the deploy step (a step backed off):
   * false when the SDK's retries absorbed every throttled attempt, as in AWS with sparse throttling.
   */
  readonly throttlingSeenByStep?: boolean;
  readonly launchTemplateVersionsPerRole?: number;
  readonly compensationErrors?: readonly string[];
  /** Each group ends with MinSize/MaxSize at the configured floor/ceiling and desired within (checked for every successful deploy anyway). */
  readonly groupsAtFloor?: boolean;
  /** Each group ends as a fresh environment's: no instance, desired 0, min 0, launch-template version 1. */
  readonly groupsEmpty?: boolean;
  /** Migration runners launched. */
  readonly runners?: number;
  /** Builders/runners of a dead deploy the janitor terminated (history `leftoversTerminated`). */
  readonly leftoversTerminated?: number;
  /**
   * After the deploy, every peer environment (`world.peers`) can still launch: each peer's
   * current-image exists, and its web group, scaled to one, brings an instance of that image
   * in service.
   */
  readonly peersLaunch?: boolean;
  /** Each pattern matches one of the deploy's warnings (history `warnings`). */
  readonly warnings?: readonly string[];
  /** Fields the deploy's history item has (a subset, as `toMatchObject`). */
  readonly history?: Readonly<Record<string, unknown>>;
  /** herd's pre-migration snapshots of the environment left at the end. */
  readonly backupsLeft?: number;
  /** Roles whose report and power-off straddled two of the deploy step's reads (the fake's races). */
  readonly straddled?: readonly string[];
  /** State of herd's alarms (by id) at the end. */
  readonly alarmStatesAtEnd?: Readonly<Record<string, 'OK' | 'ALARM'>>;
  /** herd's alarms (by id: Target5xx, UnhealthyHosts, Latency) that went to ALARM during the run, computed by the fake's CloudWatch. */
  readonly alarmsFired?: readonly string[];
  /** No web or worker instance from before the deploy is left: each was replaced (a restart). */
  readonly everyInstanceReplaced?: boolean;
  /** Architecture of the serving release's image and of every instance running it. */
  readonly architecture?: 'x86_64' | 'arm64';
  /** Whether the web and worker refreshes towards the new release ran at the same time (overlapping in virtual time) or one after the other. */
  readonly refreshesOverlap?: boolean;
  /**
   * The role keeper (`World.keeperRuns`): how many times it ran, each time after this deploy's
   * migration reported and its runner was gone; the releases in service while it ran; whether
   * it ran before this deploy started replacing any instance (refresh or replacement).
   */
  readonly roleKeeper?: { readonly runs: number; readonly servingDuringRun?: readonly string[]; readonly beforeRollout?: boolean };
  /** Per role: the batches in which its refresh launched the new release's instances (distinct launch times). */
  readonly newInstanceBatches?: { readonly web?: number; readonly worker?: number };
  /** Steps the deploy was at, at least once. */
  readonly stepsSeen?: readonly string[];
  /** Steps the deploy never was at. */
  readonly stepsNeverSeen?: readonly string[];
  /** Patterns the history item's string fields match (by field). */
  readonly historyPatterns?: Readonly<Record<string, string>>;
  /**
   * The deploy's manual snapshot was made while the bake ran (true: it started before the
   * first builder and was available before the image), or after it, before the migration (false).
   */
  readonly snapshotOverlapsBake?: boolean;
  /**
   * A restore point was recorded before the migration runner launched, and RDS restores to it
   * (once its latest restorable time has passed it), never to the present.
   */
  readonly restorePoint?: boolean;
  /** A pattern of the `restore` the failure's notification carries (SNS message and EventBridge event). */
  readonly restoreNotified?: string;
  /**
   * Layered bake: the base images this deploy baked; what the release's builder booted from
   * (the world's current base, a base this deploy baked, or Amazon Linux in one go); the
   * world's seeded bases (`current`, `outdated`) retention kept or retired.
   */
  readonly layered?: {
    readonly basesBaked: number;
    readonly releaseBuilderFrom?: 'seededBase' | 'newBase' | 'amazonLinux' | 'none';
    readonly basesKept?: readonly ('current' | 'outdated')[];
    readonly basesRetired?: readonly ('current' | 'outdated')[];
  };
}

export interface Scenario {
  readonly name: string;
  readonly world: WorldSpec;
  readonly deploy: {
    readonly release: string; readonly actor: string; readonly strategy?: string; readonly migrationOrder?: string; readonly deployId?: string; readonly ignoreAlarms?: boolean; readonly force?: boolean;
    /** `herd bake --base` (or a deploy given it): a new base image even if one exists. */
    readonly rebuildBase?: boolean;
    /** `restart`: `herd restart` (fresh instances of the serving release), of `roles`. */
    readonly mode?: 'restart'; readonly roles?: readonly string[];
  };
  readonly faults?: ScenarioFaults;
  readonly expect: ScenarioExpectations;
}

export interface ScenarioRun {
  readonly scenario: Scenario;
  readonly world: World;
  readonly result: ExecutionResult;
  readonly metrics: ServiceMetrics;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly webAtStart: readonly string[];
  readonly workerAtStart: readonly string[];
  readonly secondDeploy?: ExecutionResult;
  /** Virtual time the first image of the release became available (ms). */
  readonly imageAvailableAt?: number;
  readonly states: readonly DeployState[];
  /** Every call the deploy step (and the scenario's operator) made, for IAM evaluation against the synthesized policies. */
  readonly iam: IamCheck;
  /** The environment before, what operators and faults did, capacity every second. */
  readonly observation: Observation;
  /** The execution ended abnormally: what the reaper did (`result` is then the last execution's). */
  readonly reapings?: readonly Reaping[];
}

export const SCENARIO_DIR = join(__dirname, 'scenarios');

export function loadScenarios(dir = SCENARIO_DIR): { file: string; scenario: Scenario }[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, scenario: JSON.parse(readFileSync(join(dir, file), 'utf8')) as Scenario }));
}

/**
 * Runs a scenario: its world, the deploy with its faults and events, then, as in AWS, the
 * reaper for an execution that ended abnormally (it resumes the deploy to finish or
 * compensate it), and `herd repair` if the scenario asks for it.
 */
export async function runScenario(scenario: Scenario): Promise<ScenarioRun> {
  const world = createWorld(scenario.world);
  const { cloud } = world;
  const iam = checkWorldIam(world, { extraPrincipals: [...operatorPrincipals(world), consoleAdministrator()] });
  const observation = new Observation(world);
  const faults = scenario.faults ?? {};
  let burst = 0;
  const every = faults.throttleEvery;
  cloud.throttle = (_service, _api, attempt) => {
    if (burst > 0) {
      burst -= 1;
      return true;
    }
    return every !== undefined && (attempt - 1) % every === 0;
  };
  const later = (faults.apiFaults ?? []).filter((f) => f.fromStep !== undefined);
  cloud.faults.push(...(faults.apiFaults ?? []).filter((f) => f.fromStep === undefined).map((f) => ({ ...f })));
  const events = [...(faults.events ?? [])];
  let stop: { name: string; message: string } | undefined;
  let secondDeploy: ExecutionResult | undefined;
  let operatorActed = false;
  const run = await runSimulatedDeploy(
    world,
    { ...scenario.deploy, deployId: scenario.deploy.deployId ?? 'deploy-0001' },
    {
      faults: {
        ...(faults.retryAfterSideEffect ? { retryAfterSideEffect: faults.retryAfterSideEffect } : {}),
        ...(faults.lambdaDown ? { lambdaDown: faults.lambdaDown } : {}),
        stop: () => {
          const s = stop;
          stop = undefined;
          return s;
        },
      },
      onState: async (state, ctx) => {
        for (const f of later.filter((x) => x.fromStep === state.step)) {
          later.splice(later.indexOf(f), 1);
          const { fromStep: _from, ...fault } = f;
          cloud.faults.push({ ...fault });
        }
        const operator = faults.operator;
        if (operator && !operatorActed && state.step === operator.atStep) {
          operatorActed = true;
          const clients = cloud.clients('operator');
          if (operator.action === 'takeOverPage') await takeOverPage(clients, await maintenanceStatus(clients, ctx.env));
          else await maintenanceOn(clients, ctx.env, MANUAL_OWNER);
          observation.notePage();
        }
        for (const event of events.filter((e) => e.atStep === state.step && (!e.afterRefreshed || state.refreshed.includes(e.afterRefreshed)))) {
          events.splice(events.indexOf(event), 1);
          const effect = await applyEvent(event, state, {
            world,
            observation,
            throttleBurst: (calls) => {
              burst += calls;
            },
            stop: (error) => {
              stop = error;
            },
            ambiguous: (process) =>
              (FULL_SUSPENDED_PROCESSES as readonly string[]).includes(process) &&
              state.step === 'replace.scaleOut' &&
              (faults.retryAfterSideEffect === 'all' || (faults.retryAfterSideEffect ?? []).includes('replace.scaleOut')),
          });
          observation.timeline.push({ at: cloud.now(), step: state.step, kind: event.kind, effect });
        }
        const second = faults.secondDeploy;
        if (second && !secondDeploy && state.step === second.atStep) {
          secondDeploy = await runExecution(
            { release: second.release, actor: second.actor, deployId: 'deploy-0002' },
            { cloud, handle: (event) => handle(event, ctx), deploy: ctx.env.deploy },
          );
        }
      },
    },
  );
  // A throttling burst the deploy step did not meet is over by the time the reaper runs.
  burst = 0;
  const reapings = await reapSimulated(world, run.result);
  const resumed = reapings.filter((r) => r.resumed).at(-1)?.resumed;
  const ended = resumed ?? run.result;
  const extra = { observation, ...(secondDeploy ? { secondDeploy } : {}), ...(reapings.some((r) => r.outcome.action !== 'nothing') ? { reapings } : {}) };
  if (faults.repairAfter && ended.state) {
    // The operator fixes the cause, then runs `herd repair`: a new execution from the last state.
    cloud.faults.splice(0);
    const ctx = { clients: cloud.clients(), env: world.env, clock: world.clock };
    const repaired = await runExecution({ ...ended.state, repair: { actor: faults.repairAfter.actor } }, { cloud, handle: (event) => handle(event, ctx), deploy: world.env.deploy });
    return { scenario, world, ...run, result: repaired, endedAt: world.clock.now(), iam, ...extra };
  }
  return { scenario, world, ...run, result: ended, endedAt: world.clock.now(), iam, ...extra };
}

/** One row of the runner's table. */
export function tableRow(run: ScenarioRun): Record<string, string | number> {
  const calls = run.world.cloud.calls.length;
  const full = run.result.state?.strategy === 'full';
  return {
    scenario: run.scenario.name,
    outcome: run.result.state?.outcome ?? run.result.error?.name ?? '?',
    'duration (s)': Math.round((run.endedAt - run.startedAt) / 1000),
    'no healthy target outside window (s)': run.metrics.unservedSeconds,
    'min healthy %': run.metrics.minHealthyPercent(),
    'maintenance window (s)': full ? run.metrics.maintenanceSeconds : '-',
    'AWS calls': calls,
    'SFN history events': run.result.historyEvents,
    'largest state (bytes)': run.result.maxStateBytes,
  };
}
