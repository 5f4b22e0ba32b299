/**
 * What a scenario run saw of the environment, as an operator would: how it was before the
 * deploy, what operators and faults did to it while the deploy ran, and the healthy web
 * capacity every virtual second. The invariants (`invariants.ts`) judge the end state
 * against it: what an operator owns (the page, suspended processes) is theirs, and capacity
 * lost to a fault or an operator is not the deploy's.
 */
import type { FakeCloud } from '../../lib/simulation/fake-cloud';
import type { World } from '../../lib/simulation/world';
import { MANUAL_OWNER } from '../../lambda/deploy/maintenance';
import { parameterNames, TAGS } from '../../lib/names';

/** A fleet role of the environment. */
export type FleetRole = 'web' | 'worker';

/** The environment as an operator sees it (`herd status`). */
export interface EnvironmentView {
  /** The release parameter `current-release`. */
  readonly release: string | undefined;
  /** The release parameter `current-image`. */
  readonly image: string | undefined;
  /** Owner of the maintenance page (`manual`, a deploy id), absent when it is down. */
  readonly pageOwner: string | undefined;
  readonly groups: Readonly<Partial<Record<FleetRole, { readonly min: number; readonly max: number; readonly desired: number; readonly suspended: readonly string[] }>>>;
  /** Healthy in-service web targets. */
  readonly healthyWeb: number;
}

/** One event a scenario scheduled (`scenario-events.ts`), when it fired and what it did. */
export interface TimelineEntry {
  /** Virtual time (epoch ms). */
  readonly at: number;
  /** The step the deploy had reached. */
  readonly step: string;
  readonly kind: string;
  /** What happened: `killed i-…`, `refused: …` (an operator's command that failed). */
  readonly effect: string;
}

/** The environment's view now. */
export function viewOf(world: World): EnvironmentView {
  const { cloud, env } = world;
  const names = parameterNames(env.app, env.env);
  const groups: Partial<Record<FleetRole, { min: number; max: number; desired: number; suspended: string[] }>> = {};
  for (const role of ['web', 'worker'] as const) {
    const fleet = env.fleets[role];
    const g = fleet ? cloud.groups.get(fleet.autoScalingGroupName) : undefined;
    if (g) groups[role] = { min: g.min, max: g.max, desired: g.desired, suspended: [...g.suspended].sort() };
  }
  return {
    release: cloud.parameters.get(names.currentRelease),
    image: cloud.parameters.get(names.currentImage),
    pageOwner: cloud.maintenanceRule(env.loadBalancer.listenerArn, env.loadBalancer.maintenancePriority)?.tags[TAGS.deploy],
    groups,
    healthyWeb: cloud.healthyServing(env.fleets.web.autoScalingGroupName).length,
  };
}

export class Observation {
  /** The environment before the deploy. */
  readonly before: EnvironmentView;
  /** An operator owns the maintenance page now (put it up, or took a deploy's over). */
  operatorOwnsPage: boolean;
  /** Processes operators suspended on each group (before the deploy and during it), as they left them. */
  readonly operatorSuspended: Record<FleetRole, Set<string>>;
  /** When a fault or an operator took web capacity away (an instance died, a scale-in): epoch ms. */
  readonly webDisruptions: number[] = [];
  /** Groups whose desired capacity an operator (or a scaling policy) changed during the deploy. */
  readonly operatorScaled = new Set<FleetRole>();
  /** The lowest web desired capacity an operator (or a scaling policy) set during the deploy. */
  lowestWebDesired: number | undefined;
  /** Every event a scenario scheduled that fired, in order. */
  readonly timeline: TimelineEntry[] = [];
  /** Per virtual second: time (epoch ms), healthy web targets, whether the page was up. */
  readonly samples: { readonly at: number; readonly healthy: number; readonly page: boolean }[] = [];

  constructor(private readonly world: World) {
    this.before = viewOf(world);
    this.operatorOwnsPage = this.before.pageOwner === MANUAL_OWNER;
    this.operatorSuspended = {
      web: new Set(this.before.groups.web?.suspended ?? []),
      worker: new Set(this.before.groups.worker?.suspended ?? []),
    };
    world.cloud.onTick((cloud) => this.sample(cloud));
  }

  /** Records what the page's owner is after an operator's maintenance command. */
  notePage(): void {
    const { cloud, env } = this.world;
    this.operatorOwnsPage = cloud.maintenanceRule(env.loadBalancer.listenerArn, env.loadBalancer.maintenancePriority)?.tags[TAGS.deploy] === MANUAL_OWNER;
  }

  private sample(cloud: FakeCloud): void {
    const { env } = this.world;
    this.samples.push({
      at: cloud.now(),
      healthy: cloud.healthyServing(env.fleets.web.autoScalingGroupName).length,
      page: cloud.maintenanceRule(env.loadBalancer.listenerArn, env.loadBalancer.maintenancePriority) !== undefined,
    });
  }
}
