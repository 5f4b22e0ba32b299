/**
 * The environment's CloudFormation stack, as the deploy step sees it: a deploy does not
 * start while CloudFormation is changing the stack (an update may create launch-template
 * versions and update the groups under the deploy) or after an update it could not finish.
 *
 * The deploy takes the lock first and reads the stack's status second; the stack's deploy
 * guard (`lambda/deploy-guard/guard.ts`) reads the lock after the update has started. So
 * whichever of a `cdk deploy` and a `herd deploy` starts second sees the other one.
 */
import { DescribeStacksCommand, type StackStatus } from '@aws-sdk/client-cloudformation';
import { EnvironmentBusyError } from './errors';
import type { AdvanceContext } from './step';

/** Statuses a deploy may start in. */
const SETTLED: ReadonlySet<string> = new Set<StackStatus>(['CREATE_COMPLETE', 'UPDATE_COMPLETE', 'UPDATE_ROLLBACK_COMPLETE', 'IMPORT_COMPLETE', 'IMPORT_ROLLBACK_COMPLETE']);

/** Throws `EnvironmentBusyError` unless the environment's stack is settled. No check without `env.stackName`. */
export async function checkStackSettled(ctx: AdvanceContext): Promise<void> {
  const name = ctx.env.stackName;
  if (!name) return;
  const res = await ctx.clients.cloudFormation.send(new DescribeStacksCommand({ StackName: name }));
  const status = res.Stacks?.[0]?.StackStatus ?? 'missing';
  if (SETTLED.has(status)) return;
  const env = ctx.env.env;
  if (status.endsWith('_IN_PROGRESS')) {
    throw new EnvironmentBusyError(
      `stack ${name} is ${status}: CloudFormation is changing environment ${env} (launch templates and groups among it); ` +
        `nothing was changed. Deploy again once \`cdk deploy\` has finished.`,
    );
  }
  throw new EnvironmentBusyError(
    `stack ${name} is ${status}: its last change did not complete, so its fleets may not be what the template says; ` +
      `nothing was changed. Fix the stack (see its events in the CloudFormation console, then \`cdk deploy\` again) before deploying.`,
  );
}
