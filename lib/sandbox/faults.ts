/**
 * The faults an operator can rehearse in the sandbox (`herd sandbox fault <kind>`), taken
 * from the deploy scenarios (`test/deploy/scenarios/`): each is armed for the next deploy
 * started on an environment and takes effect when that deploy's execution starts. Faults
 * are data (`FaultsState`, saved with the sandbox) read by the execution hooks, so a fault
 * armed in one command acts in the next.
 */
import { phaseOf } from '../../lambda/deploy/state';
import type { ReleaseBehaviour, ThrottlePolicy } from '../simulation/fake-cloud';
import type { SandboxEnvironment } from './environment';
import type { Execution, ExecutionHooks } from './step-functions';

/** Every fault kind, with what it does. */
export const FAULT_KINDS = {
  'failing-migration': "the release's `release:` command (the migrations) exits 1: the deploy rolls back, the previous release keeps serving, the maintenance page is lifted",
  'failing-bake': 'the image build exits 1: the deploy fails before touching a server',
  'unhealthy-release': 'the new instances never pass the health check (Target.ResponseCodeMismatch: the app answers 502): the deploy rolls back',
  alarm: 'the release answers 30% of requests with a 5xx: the Target5xx rollback alarm fires during the rollout (the refresh rolls back) or the alarm watch after it (compensation rolls back) (on an environment that serves a release)',
  throttling: "a burst of throttling: every third AWS call of the deploy step is throttled for its next 150 calls; the SDK's retries absorb it",
  'no-capacity': "the first availability zone has no capacity (RunInstances: InsufficientInstanceCapacity) until `herd sandbox fault clear`",
  'execution-dies': "the deploy's Step Functions execution dies during the rollout (history limit); the reaper resumes it in a new execution, which puts the previous release back",
} as const;

export type FaultKind = keyof typeof FAULT_KINDS;

/** What each release fault does to the release deployed. */
const RELEASE_FAULTS: Partial<Record<FaultKind, ReleaseBehaviour>> = {
  'failing-migration': { migrationExitCode: 1 },
  'failing-bake': { bakeExitCode: 1 },
  'unhealthy-release': { neverHealthy: true, unhealthyReason: 'Target.ResponseCodeMismatch' },
  alarm: { errorRate: 0.3 },
};

/** Calls a throttling burst covers, and which of them are throttled (every `THROTTLE_EVERY`th). */
const THROTTLE_BURST_CALLS = 150;
const THROTTLE_EVERY = 3;

/** A fault a deploy took. */
export interface ActiveFault {
  readonly kind: FaultKind;
  readonly env: string;
  readonly deployId: string;
  readonly release: string;
  /** Throttling: calls of the burst left, and how many were throttled. */
  callsLeft?: number;
  throttled?: number;
  /** Execution-dies: the execution was killed. */
  died?: boolean;
}

/** The sandbox's faults, saved with it. */
export interface FaultsState {
  /** Faults armed for the next deploy, per environment. */
  armed: Record<string, FaultKind[]>;
  /** Faults deploys took and that may still act (or be undone by `clear`). */
  active: ActiveFault[];
}

export function isFaultKind(kind: string): kind is FaultKind {
  return Object.prototype.hasOwnProperty.call(FAULT_KINDS, kind);
}

/** The deploy an execution runs (a resumed execution's input is the dead one's state). */
function deployIdOf(x: Execution): string {
  const id = x.input.deployId;
  return typeof id === 'string' ? id : x.name;
}

/**
 * The hooks that make `environment`'s executions take the faults in `state`: a deploy that
 * starts takes the armed ones; throttling bursts during its advance calls; execution-dies
 * kills it once its rollout began.
 */
export function faultHooks(environment: SandboxEnvironment, state: FaultsState): ExecutionHooks {
  const { cloud } = environment.world;
  const env = environment.world.env.env;
  const activeFor = (x: Execution, kind: FaultKind) => state.active.find((f) => f.env === env && f.kind === kind && f.deployId === deployIdOf(x));
  return {
    started(x) {
      const kinds = state.armed[env] ?? [];
      if (kinds.length === 0) return;
      state.armed[env] = [];
      const release = typeof x.input.release === 'string' ? x.input.release : '';
      for (const kind of kinds) {
        const fault: ActiveFault = { kind, env, deployId: deployIdOf(x), release };
        const behaviour = RELEASE_FAULTS[kind];
        if (behaviour && release) cloud.releases[release] = { ...cloud.releases[release], ...behaviour };
        if (kind === 'no-capacity') {
          const subnet = environment.world.env.instances.subnetIds[0];
          if (subnet) cloud.noCapacity.add(subnet);
        }
        if (kind === 'throttling') Object.assign(fault, { callsLeft: THROTTLE_BURST_CALLS, throttled: 0 });
        state.active.push(fault);
      }
    },
    beforeAdvance(x) {
      const burst = activeFor(x, 'throttling');
      if (!burst || (burst.callsLeft ?? 0) <= 0) return;
      const policy: ThrottlePolicy = () => {
        if ((burst.callsLeft ?? 0) <= 0) return false;
        burst.callsLeft = (burst.callsLeft ?? 0) - 1;
        const throttled = burst.callsLeft % THROTTLE_EVERY === 0;
        if (throttled) burst.throttled = (burst.throttled ?? 0) + 1;
        return throttled;
      };
      cloud.throttle = policy;
    },
    async afterAdvance(x) {
      cloud.throttle = undefined;
      const dies = activeFor(x, 'execution-dies');
      const last = x.states.at(-1);
      const stage = last?.plan[last.stageIndex];
      if (!dies || dies.died || x.status !== 'RUNNING' || !stage || phaseOf(stage) !== 'rollout') return;
      dies.died = true;
      await environment.kill(deployIdOf(x), 'FAILED');
    },
  };
}

/** Lifts the faults of `env` (every environment when undefined): disarms them and undoes what they changed. */
export function clearFaults(state: FaultsState, environments: ReadonlyMap<string, SandboxEnvironment>, env: string | undefined): void {
  for (const name of Object.keys(state.armed)) if (env === undefined || name === env) state.armed[name] = [];
  const lifted = state.active.filter((f) => env === undefined || f.env === env);
  state.active = state.active.filter((f) => !lifted.includes(f));
  for (const f of lifted) {
    const environment = environments.get(f.env);
    if (!environment) continue;
    const { cloud } = environment.world;
    const behaviour = RELEASE_FAULTS[f.kind];
    const current = cloud.releases[f.release];
    if (behaviour && current) {
      const rest: Record<string, unknown> = { ...current };
      for (const key of Object.keys(behaviour)) delete rest[key];
      cloud.releases[f.release] = rest as ReleaseBehaviour;
    }
    if (f.kind === 'no-capacity') cloud.noCapacity.clear();
  }
}
