/**
 * The environment's instances as a rollout moves them, one read per poll: the groups
 * (DescribeAutoScalingGroups: lifecycle, launch-template version) and the web target group
 * (DescribeTargetHealth: state, reason, description). Each instance is launching → booting →
 * healthy → draining → terminated, or failing with the load balancer's reason.
 */
import { DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeTargetHealthCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { Role } from '../config/types';
import type { AwsClients } from './deps';
import type { StackOutputs } from './environment';

export type InstanceStatus = 'launching' | 'booting' | 'healthy' | 'failing' | 'draining' | 'terminated';

export interface InstanceView {
  readonly id: string;
  readonly role: Role;
  /** The release it runs, by its launch-template version: the deploy's, the previous one's, or `other`. */
  readonly release: string;
  readonly status: InstanceStatus;
  /** Why it fails its check: `Target.ResponseCodeMismatch: Health checks failed with these codes: [502]`. */
  readonly reason?: string;
}

export interface FleetView {
  readonly instances: readonly InstanceView[];
  /** Per role: desired capacity and new-version instances in service. */
  readonly counts: Partial<Record<Role, { readonly desired: number; readonly replaced: number }>>;
}

/** One instance's status from its group lifecycle and (web) target health. */
export function statusOf(lifecycle: string, target: { state?: string } | undefined): InstanceStatus {
  if (lifecycle.startsWith('Pending')) return 'launching';
  if (lifecycle.startsWith('Terminat') || lifecycle.startsWith('Detach') || lifecycle.startsWith('Standby')) {
    return lifecycle === 'Terminated' ? 'terminated' : 'draining';
  }
  if (!target) return 'healthy';
  switch (target.state) {
    case 'healthy':
      return 'healthy';
    case 'unhealthy':
      return 'failing';
    case 'draining':
      return 'draining';
    default:
      // initial, unused, unavailable: registered or registering, not checked healthy yet.
      return 'booting';
  }
}

/** Launch-template versions by role, and the release they run. */
export interface ReleaseVersions {
  readonly release: string;
  readonly versions: Partial<Record<Role, string>>;
}

/**
 * Reads both groups and the web target group. `next`: the deploy's release and new
 * launch-template versions (`counts.replaced` counts its instances); `previous`: the release before it.
 */
export async function readFleet(
  clients: Pick<AwsClients, 'autoScaling' | 'elbv2'>,
  outputs: Pick<StackOutputs, 'webAutoScalingGroup' | 'workerAutoScalingGroup' | 'targetGroupArn'>,
  next: ReleaseVersions | undefined,
  previous?: ReleaseVersions,
): Promise<FleetView> {
  const names = [outputs.webAutoScalingGroup, outputs.workerAutoScalingGroup].filter((n) => n !== '');
  const [groups, health] = await Promise.all([
    clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: names })),
    clients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: outputs.targetGroupArn })),
  ]);
  const targets = new Map<string, { state?: string; reason?: string }>();
  for (const d of health.TargetHealthDescriptions ?? []) {
    const id = d.Target?.Id;
    if (!id) continue;
    const h = d.TargetHealth;
    const reason = h?.Reason ? `${h.Reason}${h.Description ? `: ${h.Description}` : ''}` : undefined;
    targets.set(id, { ...(h?.State ? { state: h.State } : {}), ...(reason ? { reason } : {}) });
  }
  const instances: InstanceView[] = [];
  const counts: Partial<Record<Role, { desired: number; replaced: number }>> = {};
  for (const g of groups.AutoScalingGroups ?? []) {
    const role: Role = g.AutoScalingGroupName === outputs.workerAutoScalingGroup ? 'worker' : 'web';
    const version = next?.versions[role];
    let replaced = 0;
    for (const i of g.Instances ?? []) {
      if (!i.InstanceId) continue;
      const target = role === 'web' ? targets.get(i.InstanceId) : undefined;
      const status = statusOf(i.LifecycleState ?? 'InService', role === 'web' ? (target ?? { state: 'unused' }) : undefined);
      const isNew = version !== undefined && i.LaunchTemplate?.Version === version;
      if (isNew && i.LifecycleState === 'InService') replaced += 1;
      const isPrevious = previous?.versions[role] !== undefined && i.LaunchTemplate?.Version === previous.versions[role];
      const release = isNew ? (next?.release ?? 'new') : isPrevious ? previous.release : 'other';
      instances.push({ id: i.InstanceId, role, release, status, ...(status === 'failing' && target?.reason ? { reason: target.reason } : {}) });
    }
    counts[role] = { desired: g.DesiredCapacity ?? 0, replaced };
  }
  return { instances, counts };
}

/**
 * Follows instances from poll to poll: an instance no longer listed is `terminated` (kept,
 * so the operator sees it go); `changes` are the instances whose status differs since the last poll.
 */
export class InstanceTracker {
  private readonly known = new Map<string, InstanceView>();

  /** Forgets every instance (a new phase follows its own). */
  reset(): void {
    this.known.clear();
  }

  update(fleet: FleetView): { readonly all: readonly InstanceView[]; readonly changes: readonly InstanceView[] } {
    const changes: InstanceView[] = [];
    const seen = new Set<string>();
    for (const i of fleet.instances) {
      seen.add(i.id);
      const before = this.known.get(i.id);
      if (!before || before.status !== i.status || before.reason !== i.reason) changes.push(i);
      this.known.set(i.id, i);
    }
    for (const [id, i] of this.known) {
      if (seen.has(id) || i.status === 'terminated') continue;
      const gone: InstanceView = { id, role: i.role, release: i.release, status: 'terminated' };
      this.known.set(id, gone);
      changes.push(gone);
    }
    return { all: [...this.known.values()], changes };
  }
}

/** Characters of a release id an instance line shows. */
const RELEASE_CHARS = 16;

/**
 * One instance: `web    i-0abc…  v42-3f9c0a1b     failing`, and the load balancer's reason
 * under it (`    Target.ResponseCodeMismatch: Health checks failed with these codes: [502]`),
 * on its own line so a narrow terminal keeps it whole.
 */
export function instanceLines(i: InstanceView): string[] {
  const release = i.release.length > RELEASE_CHARS ? `${i.release.slice(0, RELEASE_CHARS - 1)}…` : i.release;
  const line = `${i.role.padEnd(6)} ${i.id}  ${release.padEnd(RELEASE_CHARS)} ${i.status}`;
  return i.reason ? [line, `  ${i.reason}`] : [line];
}
