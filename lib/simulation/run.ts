/**
 * One simulated deploy: the real deploy step (`lambda/deploy/handler.ts`'s `handle`) driven
 * by the Step Functions loop (`driver.ts`) against a world's fake cloud, with the service
 * metrics sampled every virtual second. The deploy scenarios (`test/deploy/scenario.ts`)
 * and `herd plan` (`lib/plan/`) both run deploys through this.
 */
import { handle } from '../../lambda/deploy/handler';
import type { DeployState } from '../../lambda/deploy/state';
import type { AdvanceContext } from '../../lambda/deploy/step';
import { ABNORMAL_STATUSES, reap, type ReapOutcome } from '../../lambda/deploy/reaper';
import { runExecution, type DriverFaults, type ExecutionResult } from './driver';
import { ServiceMetrics } from './metrics';
import type { World } from './world';

export interface SimulatedDeployOptions {
  readonly faults?: DriverFaults;
  /** Step Functions limits to model other than the real ones (history events, timeout seconds). */
  readonly limits?: { readonly historyLimit?: number; readonly timeoutSeconds?: number };
  /** Called with each state the advance Lambda returned (after the metrics and the run's own bookkeeping). */
  readonly onState?: (state: DeployState, ctx: AdvanceContext) => Promise<void> | void;
}

export interface SimulatedDeploy {
  readonly result: ExecutionResult;
  readonly metrics: ServiceMetrics;
  /** Virtual time (ms) the execution started and ended. */
  readonly startedAt: number;
  readonly endedAt: number;
  /** Web instances in the group before the deploy. */
  readonly webAtStart: readonly string[];
  /** Worker instances in the group before the deploy. */
  readonly workerAtStart: readonly string[];
  /** Virtual time (ms) the first image of the release became available. */
  readonly imageAvailableAt?: number;
  /** Every state the advance Lambda returned, in order. */
  readonly states: readonly DeployState[];
}

/**
 * Runs one deploy execution (`input` is the Step Functions input) in `world`. Hooks that
 * must see every virtual second (metrics, injected faults, a timeline recorder) are
 * registered on `world.cloud` before calling this, or by it (the metrics).
 */
export async function runSimulatedDeploy(world: World, input: { readonly release: string } & Record<string, unknown>, options: SimulatedDeployOptions = {}): Promise<SimulatedDeploy> {
  const { cloud, env } = world;
  const ctx: AdvanceContext = { clients: cloud.clients(), env, clock: world.clock };
  const metrics = new ServiceMetrics(cloud, env);
  const webAtStart = cloud.groups.get(env.fleets.web.autoScalingGroupName)?.instances.map((i) => i.id) ?? [];
  const workerAtStart = (env.fleets.worker ? cloud.groups.get(env.fleets.worker.autoScalingGroupName)?.instances.map((i) => i.id) : undefined) ?? [];
  let imageAvailableAt: number | undefined;
  cloud.onTick((c) => {
    if (imageAvailableAt !== undefined) return;
    const image = [...c.images.values()].find((im) => im.release === input.release && im.state === 'available');
    if (image) imageAvailableAt = c.now();
  });
  const states: DeployState[] = [];
  const startedAt = world.clock.now();
  const result = await runExecution(input, {
    cloud,
    handle: (event) => handle(event, ctx),
    deploy: env.deploy,
    ...(options.faults ? { faults: options.faults } : {}),
    ...options.limits,
    onState: async (state) => {
      states.push(state);
      await options.onState?.(state, ctx);
    },
  });
  return { result, metrics, startedAt, endedAt: world.clock.now(), webAtStart, workerAtStart, states, ...(imageAvailableAt !== undefined ? { imageAvailableAt } : {}) };
}

/** What the reaper did with one execution that ended, and the execution it started, if any. */
export interface Reaping {
  readonly outcome: ReapOutcome;
  readonly resumed?: ExecutionResult;
}

/** Lambda retries an asynchronous invocation that failed twice, about 1 and then 2 minutes later ("Asynchronous invocation", error handling). */
export const ASYNC_RETRY_DELAYS_SECONDS: readonly number[] = [60, 120];

/**
 * What the reaper (`lambda/deploy/reaper.ts`, the real logic) does after `ended`, in the
 * simulation: EventBridge hands it every execution that ended abnormally; an execution it
 * starts runs through the same Step Functions loop, and its own end goes to the reaper again.
 * A reaper invocation that throws is retried as Lambda retries asynchronous invocations; an
 * execution it started before throwing runs all the same (Step Functions has it).
 */
export async function reapSimulated(world: World, ended: ExecutionResult, name = 'deploy'): Promise<Reaping[]> {
  const { cloud, env } = world;
  const ctx: AdvanceContext = { clients: cloud.clients(), env, clock: world.clock };
  const reapings: Reaping[] = [];
  let end = ended;
  let executionName = name;
  for (;;) {
    // The EventBridge rule sends only the abnormal ends to the reaper.
    if (!(ABNORMAL_STATUSES as readonly string[]).includes(end.status)) return reapings;
    let started: { name: string; input: DeployState } | undefined;
    const last = end;
    const executionArn = `arn:aws:states:eu-west-1:123456789012:execution:herd-${env.env}-deploy:${executionName}`;
    // The reaper's handler reads the history and starts the resume through Step Functions, which the simulation plays: its calls are still the reaper's.
    const sfnCall = (api: string, input: Record<string, unknown>) => cloud.authorizer?.({ principal: 'reaper', service: 'sfn', api, input }, cloud);
    let outcome: ReapOutcome | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        outcome = await reap(
          {
            executionArn,
            status: last.status,
            ...(last.error ? { error: last.error.name, cause: last.error.message } : {}),
          },
          {
            clients: cloud.clients('reaper'),
            env,
            now: () => world.clock.now(),
            lastState: async () => {
              sfnCall('GetExecutionHistory', { executionArn });
              return last.lastAdvanced;
            },
            startExecution: async (n, input) => {
              sfnCall('StartExecution', { stateMachineArn: executionArn.replace(/:execution:([^:]+):[^:]+$/, ':stateMachine:$1'), name: n });
              started = { name: n, input };
            },
          },
        );
        break;
      } catch (err) {
        if (started) {
          outcome = { action: 'resumed', execution: started.name };
          break;
        }
        const delay = ASYNC_RETRY_DELAYS_SECONDS[attempt];
        if (delay === undefined) {
          reapings.push({ outcome: { action: 'nothing', why: `the reaper failed ${attempt + 1} times: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}` } });
          return reapings;
        }
        cloud.advance(delay);
      }
    }
    if (!started) {
      reapings.push({ outcome });
      return reapings;
    }
    const begun: { name: string; input: DeployState } = started;
    end = await runExecution(begun.input, { cloud, handle: (event) => handle(event, ctx), deploy: env.deploy });
    reapings.push({ outcome, resumed: end });
    executionName = begun.name;
  }
}
