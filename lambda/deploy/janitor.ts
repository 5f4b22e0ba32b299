/**
 * The janitor: right after a deploy takes the lock, it terminates builders and runners of
 * this environment that belong to another deploy. Holding the lock, no other deploy can be
 * running, so such instances are leftovers of a deploy step that died (execution stopped
 * by hand, Lambda misconfigured…). Their count goes into the history.
 */
import { DescribeInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { TAGS } from '../../lib/names';
import { snapshotsEarly } from './backups';
import type { DeployState } from './state';
import type { AdvanceContext, Step } from './step';

/** `herd:role` values of the instances a deploy launches itself: bake builders and migration runners. */
export const DEPLOY_INSTANCE_ROLES = ['builder', 'release'] as const;

/**
 * States searched. `shutting-down` is included so that a retried janitor (whose first
 * call already terminated them) still counts what it found.
 */
const JANITOR_STATES = ['pending', 'running', 'stopping', 'stopped', 'shutting-down'];

/** Builders and runners of this environment launched by other deploys, not yet terminated. */
export async function findLeftovers(state: DeployState, ctx: AdvanceContext): Promise<{ id: string; state: string }[]> {
  const filters = [
    { Name: `tag:${TAGS.app}`, Values: [state.app] },
    { Name: `tag:${TAGS.environment}`, Values: [state.env] },
    { Name: `tag:${TAGS.role}`, Values: [...DEPLOY_INSTANCE_ROLES] },
    { Name: 'instance-state-name', Values: JANITOR_STATES },
  ];
  const found: { id: string; state: string }[] = [];
  let token: string | undefined;
  do {
    const res = await ctx.clients.ec2.send(new DescribeInstancesCommand({ Filters: filters, NextToken: token }));
    for (const r of res.Reservations ?? []) {
      for (const i of r.Instances ?? []) {
        const deploy = i.Tags?.find((t) => t.Key === TAGS.deploy)?.Value;
        if (i.InstanceId && deploy !== state.deployId) found.push({ id: i.InstanceId, state: i.State?.Name ?? 'unknown' });
      }
    }
    token = res.NextToken;
  } while (token);
  return found;
}

export const janitor: Step = async (state, ctx) => {
  const leftovers = await findLeftovers(state, ctx);
  const live = leftovers.filter((l) => l.state !== 'shutting-down').map((l) => l.id);
  if (live.length > 0) await ctx.clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: live }));
  state.leftoversTerminated = leftovers.length;
  if (leftovers.length > 0) {
    state.warnings.push(`terminated ${leftovers.length} builder/runner instance(s) left by an earlier deploy: ${leftovers.slice(0, 10).map((l) => l.id).join(', ')}${leftovers.length > 10 ? ', …' : ''}`);
  }
  // Then the manual snapshot that runs alongside the bake, if the deploy takes one (`backups.ts`).
  return snapshotsEarly(state, ctx) ? { goto: 'lock.snapshot' } : { stageDone: true };
};
