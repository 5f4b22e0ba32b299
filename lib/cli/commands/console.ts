/**
 * `herd console <env> [--instance ID | --role web|worker] [--fresh]`: an interactive shell as
 * the app user with the app's environment loaded, through Session Manager (no SSH, no port
 * 22; `session-manager.ts`), on one InService instance of the environment (`--instance`, or
 * the first of `--role`'s group, web by default), or with `--fresh` on a new instance of the
 * serving release launched as `herd run` launches its own (its command: wait out `--timeout`),
 * terminated when the session ends. Recorded in the history (verb `console`) before the
 * shell opens: who opened a console where.
 */
import { DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import type { Command } from 'commander';
import { newDeployId } from '../../../lambda/deploy/advance';
import { auditAction } from '../audit';
import type { CliDeps } from '../deps';
import { fleetsOf, resolveEnvironment, type EnvironmentHandle } from '../environment';
import { CliError, EXIT, isAwsCode } from '../errors';
import { deleteRunResult, launchRunInstance, runInstanceState, servingRelease, terminateRunInstance } from '../run-instance';
import { openShell, requirePlugin } from '../session-manager';
import { DEFAULT_RUN_TIMEOUT, RUN_ROLES, parseRunTimeout } from './run';

/** How long `--fresh` waits for its instance's SSM agent. */
export const FRESH_READY_SECONDS = 10 * 60;
const FRESH_POLL_SECONDS = 5;

/** The InService instances of the environment's groups, by role. */
async function inService(handle: EnvironmentHandle): Promise<{ role: string; group: string; ids: string[] }[]> {
  const fleets = fleetsOf(handle);
  const res = await handle.clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: fleets.map((f) => f.group) }));
  return fleets.map((f) => {
    const g = res.AutoScalingGroups?.find((x) => x.AutoScalingGroupName === f.group);
    return { role: f.role, group: f.group, ids: (g?.Instances ?? []).filter((i) => i.LifecycleState === 'InService').map((i) => i.InstanceId ?? '').filter(Boolean) };
  });
}

/** The instance `--instance` or `--role` names, or a usage error listing what there is. */
async function pickInstance(handle: EnvironmentHandle, opts: { instance?: string; role: string }): Promise<{ id: string; role: string }> {
  const fleets = await inService(handle);
  const listing = fleets.map((f) => `${f.group}: ${f.ids.length > 0 ? f.ids.join(', ') : 'none'}`).join('; ');
  if (opts.instance) {
    const owner = fleets.find((f) => f.ids.includes(opts.instance ?? ''));
    if (!owner) throw new CliError(`instance ${opts.instance} is not an InService instance of ${handle.name} (InService: ${listing}); pick one of those, or use --fresh; nothing was changed`);
    return { id: opts.instance, role: owner.role };
  }
  const fleet = fleets.find((f) => f.role === opts.role);
  const id = fleet?.ids[0];
  if (!id) throw new CliError(`no InService ${opts.role} instance on ${handle.name} (InService: ${listing}); use --fresh for a new instance of the serving release; nothing was changed`);
  return { id, role: opts.role };
}

export function register(program: Command, deps: CliDeps): void {
  program
    .command('console')
    .description('an interactive shell as the app user, with its environment, through Session Manager (no SSH): on a running instance, or --fresh')
    .argument('<env>', 'environment (herd.config.ts)')
    .option('--instance <id>', 'an InService instance of the environment')
    .option('--role <role>', `the first InService instance of this role: ${RUN_ROLES.join(' or ')}`, 'web')
    .option('--fresh', 'on a new instance of the serving release (the role\'s environment), terminated when the session ends')
    .option('--timeout <duration>', `--fresh: the instance stops after this long whatever happens (at most 6h)`, DEFAULT_RUN_TIMEOUT)
    .addHelpText('after', [
      '',
      `Needs the AWS Session Manager plugin (session-manager-plugin) on PATH.`,
      '',
      'Examples:',
      '  $ herd console production',
      '  $ herd console production --instance i-0123456789abcdef0',
      '  $ herd console staging --fresh --role worker',
    ].join('\n'))
    .action(async (env: string, opts: { instance?: string; role: string; fresh?: boolean; timeout: string }, command: Command) => {
      const roleGiven = command.getOptionValueSource('role') === 'cli';
      if (opts.instance !== undefined && (opts.fresh || roleGiven)) {
        throw new CliError(`--instance ${opts.instance} names the instance: it goes with neither --role nor --fresh; nothing was changed`);
      }
      if (opts.instance !== undefined && !/^i-([0-9a-f]{8}|[0-9a-f]{17})$/.test(opts.instance)) {
        throw new CliError(`--instance "${opts.instance}" is not an EC2 instance id (i- and 8 or 17 hex digits); \`herd status ${env}\` lists the instances; nothing was changed`);
      }
      if (!(RUN_ROLES as readonly string[]).includes(opts.role)) {
        throw new CliError(`--role "${opts.role}" is not a role with a console: use ${RUN_ROLES.join(' or ')}; nothing was changed`);
      }
      const timeoutSeconds = parseRunTimeout(opts.timeout);
      if (deps.sandbox) {
        // The sandbox's instances are simulated: there is no shell to open on one.
        throw new CliError(
          `herd console opens a shell on a real instance through Session Manager, and the sandbox's instances are simulated: it has none to open; ` +
            `run a command on a fresh simulated instance with \`herd run ${env} --sandbox -- <command>\` instead; nothing was changed`,
        );
      }
      const plugin = requirePlugin();
      const handle = await resolveEnvironment(deps, env);
      const region = handle.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
      if (!region) throw new CliError(`no region for ${env}: set region in herd.config.ts or AWS_REGION (the Session Manager plugin needs it); nothing was changed`);
      const actor = await deps.actor(handle.clients);

      if (!opts.fresh) {
        const target = await pickInstance(handle, opts);
        await auditAction(deps, handle, 'console', actor, `opened a console as ${handle.app} on ${target.id} (${target.role})`);
        deps.out.write(`console on ${env}: ${target.id} (${target.role}) as ${handle.app}; exit the shell to end the session\n`);
        try {
          await session(deps, handle, plugin, target.id, region, actor);
        } catch (err) {
          if (!isAwsCode(err, 'TargetNotConnected')) throw err;
          throw new CliError(
            `${target.id} is not connected to Session Manager: its SSM agent is not online (an instance that booted seconds ago, or one that cannot reach the SSM endpoints); try again in a minute, pick another instance, or use --fresh`,
            EXIT.failed,
          );
        }
        return;
      }

      const role = opts.role as (typeof RUN_ROLES)[number];
      const serving = await servingRelease(handle);
      const runId = `run-${newDeployId(deps.now())}`;
      const instanceId = await launchRunInstance(handle, { runId, role, command: `sleep ${timeoutSeconds}`, timeoutSeconds, serving });
      try {
        await auditAction(deps, handle, 'console', actor, `opened a console as ${handle.app} on a fresh instance ${instanceId} (${role}, release ${serving.release}, ${runId})`);
        deps.out.write(`console on ${env}: fresh instance ${instanceId} of release ${serving.release} (${role}), terminated when the session ends; waiting for its SSM agent…\n`);
        for (let waited = 0; ; waited += FRESH_POLL_SECONDS) {
          try {
            await session(deps, handle, plugin, instanceId, region, actor);
            return;
          } catch (err) {
            if (!isAwsCode(err, 'TargetNotConnected')) throw err;
            const state = await runInstanceState(handle, instanceId);
            if (state !== 'pending' && state !== 'running') throw new CliError(`fresh instance ${instanceId} is ${state} before its SSM agent came online (its boot log: /herd/${handle.app}/${env}/boot, stream ${instanceId})`, EXIT.failed);
            if (waited >= FRESH_READY_SECONDS) throw new CliError(`fresh instance ${instanceId}'s SSM agent did not come online within ${FRESH_READY_SECONDS / 60} min`, EXIT.failed);
            await deps.sleep(FRESH_POLL_SECONDS * 1000);
          }
        }
      } finally {
        await terminateRunInstance(handle, instanceId);
        // Its idle command reports when it ends (a session as long as --timeout): nobody reads that report.
        await deleteRunResult(handle, instanceId);
        deps.out.write(`instance ${instanceId} terminated\n`);
      }
    });
}

/** One session; a plugin that exits non-zero is a failure (exit 1). */
async function session(deps: CliDeps, handle: EnvironmentHandle, plugin: string, instanceId: string, region: string, actor: string): Promise<void> {
  const { sessionId, exitCode } = await openShell(deps, handle, plugin, { instanceId, reason: `herd console by ${actor}`.slice(0, 256) }, region);
  if (exitCode !== 0) throw new CliError(`the Session Manager plugin exited with ${exitCode} (session ${sessionId} on ${instanceId})`, EXIT.failed);
  deps.out.write(`session ${sessionId} ended\n`);
}
