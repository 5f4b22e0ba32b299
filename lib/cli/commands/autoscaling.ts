/** `herd autoscaling suspend|resume <env> [processes…]`: pause or resume both groups' scaling processes; recorded in the history as the caller. */
import { ResumeProcessesCommand, SuspendProcessesCommand } from '@aws-sdk/client-auto-scaling';
import type { Command } from 'commander';
import { auditAction } from '../audit';
import type { CliDeps } from '../deps';
import { fleetsOf, resolveEnvironment } from '../environment';
import { CliError } from '../errors';

/** Auto Scaling's scaling processes (SuspendProcesses accepts these names only). */
export const SCALING_PROCESSES = [
  'Launch',
  'Terminate',
  'AddToLoadBalancer',
  'AlarmNotification',
  'AZRebalance',
  'HealthCheck',
  'InstanceRefresh',
  'ReplaceUnhealthy',
  'ScheduledActions',
] as const;

export function validateProcesses(processes: readonly string[]): string[] {
  const unknown = processes.filter((p) => !(SCALING_PROCESSES as readonly string[]).includes(p));
  if (unknown.length > 0) {
    throw new CliError(
      `unknown Auto Scaling process${unknown.length === 1 ? '' : 'es'} ${unknown.map((p) => `"${p}"`).join(', ')}; valid processes: ${SCALING_PROCESSES.join(', ')}`,
    );
  }
  return [...new Set(processes)];
}

export function register(program: Command, deps: CliDeps): void {
  const autoscaling = program
    .command('autoscaling')
    .description('suspend or resume the Auto Scaling processes of both groups (web and worker)')
    .addHelpText('after', ['', 'Examples:', '  $ herd autoscaling suspend production', '  $ herd autoscaling resume production'].join('\n'));

  for (const verb of ['suspend', 'resume'] as const) {
    autoscaling
      .command(verb)
      .description(`${verb} scaling processes of the web and worker groups (default: all)`)
      .argument('<env>', 'environment (herd.config.ts)')
      .argument('[processes...]', `any of ${SCALING_PROCESSES.join(', ')}`)
      .addHelpText(
        'after',
        ['', 'Examples:', `  $ herd autoscaling ${verb} production`, `  $ herd autoscaling ${verb} staging Launch Terminate`].join('\n'),
      )
      .action(async (env: string, processes: string[]) => {
        const chosen = validateProcesses(processes);
        const handle = await resolveEnvironment(deps, env);
        const actor = await deps.actor(handle.clients);
        const fleets = fleetsOf(handle);
        for (const f of fleets) {
          const input = { AutoScalingGroupName: f.group, ...(chosen.length > 0 ? { ScalingProcesses: chosen } : {}) };
          await handle.clients.autoScaling.send(verb === 'suspend' ? new SuspendProcessesCommand(input) : new ResumeProcessesCommand(input));
        }
        const what = chosen.length > 0 ? chosen.join(', ') : 'all processes';
        const groups = fleets.map((f) => `${f.role} (${f.group})`).join(' and ');
        deps.out.write(`${verb === 'suspend' ? 'suspended' : 'resumed'} ${what} on ${groups}\n`);
        await auditAction(deps, handle, `autoscaling ${verb}`, actor, `${verb === 'suspend' ? 'suspended' : 'resumed'} ${what} on ${fleets.map((f) => f.group).join(' and ')}`);
        if (verb === 'suspend') deps.out.write(`deploys and scaling misbehave while processes are suspended: resume with \`herd autoscaling resume ${env}\`\n`);
      });
  }
}
