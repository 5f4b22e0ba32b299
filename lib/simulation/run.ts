/**
 * One simulated deploy: the real deploy step (`lambda/deploy/handler.ts`'s `handle`) driven
 * by the Step Functions loop (`driver.ts`) against a world's fake cloud, with the service
 * metrics sampled every virtual second. The deploy scenarios (`test/deploy/scenario.ts`)
 * and `herd plan` (`lib/plan/`) both run deploys through this.
 */
import { handle } from '../../lambda/deploy/handler';
import type { DeployState } from '../../lambda/deploy/state';
import type { AdvanceContext } from '../../lambda/deploy/step';
import { runExecution, type DriverFaults, type ExecutionResult } from './driver';
import { ServiceMetrics } from './metrics';
import type { World } from './world';

export interface SimulatedDeployOptions {
  readonly faults?: DriverFaults;
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
    ...(options.faults ? { faults: options.faults } : {}),
    onState: async (state) => {
      states.push(state);
      await options.onState?.(state, ctx);
    },
  });
  return { result, metrics, startedAt, endedAt: world.clock.now(), webAtStart, states, ...(imageAvailableAt !== undefined ? { imageAvailableAt } : {}) };
}
