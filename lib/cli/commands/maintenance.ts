/** `herd maintenance on|off <env>`: the maintenance page, with the bypass shown; recorded in the history as the caller. */
import type { Command } from 'commander';
import { MaintenanceOwnedError, NotVisibleYetError } from '../../../lambda/deploy/errors';
import { MANUAL_OWNER, MaintenanceSlotTakenError, maintenanceOff, maintenanceOn, takeOverPage, type MaintenanceStatus } from '../../../lambda/deploy/maintenance';
import { BYPASS_HEADER } from '../../names';
import { auditAction } from '../audit';
import type { CliDeps } from '../deps';
import { resolveEnvironment, type EnvironmentHandle } from '../environment';
import { CliError } from '../errors';

/** How to reach the app behind the page. */
export function bypassHelp(handle: EnvironmentHandle): string {
  const lines: string[] = [];
  const secret = handle.outputs.maintenanceBypassSecretArn;
  if (secret) {
    lines.push(`bypass: send the header ${BYPASS_HEADER} with the secret's value:`);
    lines.push(`  curl -H "${BYPASS_HEADER}: $(aws secretsmanager get-secret-value --secret-id ${secret} --query SecretString --output text)" ${handle.outputs.url}`);
  }
  const cidrs = handle.config.maintenance.bypassCidrs;
  if (cidrs.length > 0) lines.push(`bypass: requests from ${cidrs.join(', ')} skip the page`);
  if (lines.length === 0) lines.push('no bypass configured (maintenance.bypassHeader is false and bypassCidrs is empty): nobody reaches the app while the page is up');
  return `${lines.join('\n')}\n`;
}

/** How long `maintenance on` waits for a rule that holds the priority to be listed. */
const LISTING_WAIT_MS = 30_000;

/**
 * Puts the page up, waiting while a rule created seconds ago holds the priority but is not
 * listed yet (the ELB API is eventually consistent); a foreign rule there is a clear refusal.
 */
async function untilListed(deps: CliDeps, on: () => Promise<MaintenanceStatus>): Promise<MaintenanceStatus> {
  for (let waited = 0; ; waited += 2_000) {
    try {
      return await on();
    } catch (err) {
      if (err instanceof MaintenanceSlotTakenError) throw new CliError(err.message);
      if (!(err instanceof NotVisibleYetError) || waited >= LISTING_WAIT_MS) throw err;
      await deps.sleep(2_000);
    }
  }
}

export function register(program: Command, deps: CliDeps): void {
  const maintenance = program
    .command('maintenance')
    .description('put the maintenance page up or take it down (503 for everyone but the bypass)')
    .addHelpText('after', ['', 'Examples:', '  $ herd maintenance on production', '  $ herd maintenance off production'].join('\n'));

  maintenance
    .command('on')
    .description('put the maintenance page up (idempotent; a running deploy\'s page becomes yours and stays up after it) and show how to bypass it')
    .argument('<env>', 'environment (herd.config.ts)')
    .addHelpText('after', ['', 'Example:', '  $ herd maintenance on production'].join('\n'))
    .action(async (env: string) => {
      const handle = await resolveEnvironment(deps, env);
      const actor = await deps.actor(handle.clients);
      const before = await untilListed(deps, () => maintenanceOn(handle.clients, handle.deploy, MANUAL_OWNER));
      let done: string;
      if (!before.on) {
        done = `maintenance page up on ${env} (${handle.outputs.url} answers 503)`;
      } else if (before.owner === MANUAL_OWNER) {
        done = `maintenance page of ${env} was already up (put up by an operator); nothing changed`;
      } else {
        // A deploy's page: it becomes the operator's, so that deploy's end does not lift it.
        await takeOverPage(handle.clients, before);
        done = `maintenance page of ${env} was put up by deploy ${before.owner ?? 'unknown'}; it is yours now: it stays up when that deploy ends, until \`herd maintenance off ${env}\``;
      }
      deps.out.write(`${done}\n`);
      await auditAction(deps, handle, 'maintenance on', actor, done);
      deps.out.write(bypassHelp(handle));
      deps.out.write(`take it down with \`herd maintenance off ${env}\`\n`);
    });

  maintenance
    .command('off')
    .description('take the maintenance page down; refuses when a running deploy owns it unless --force')
    .argument('<env>', 'environment (herd.config.ts)')
    .option('--force', 'lift a page that a running deploy put up')
    .addHelpText('after', ['', 'Examples:', '  $ herd maintenance off production', '  $ herd maintenance off production --force   # a running deploy\'s page'].join('\n'))
    .action(async (env: string, opts: { force?: boolean }) => {
      const handle = await resolveEnvironment(deps, env);
      const actor = await deps.actor(handle.clients);
      let before;
      try {
        before = await maintenanceOff(handle.clients, handle.deploy, { force: opts.force === true });
      } catch (err) {
        if (err instanceof MaintenanceOwnedError) throw new CliError(err.message);
        throw err;
      }
      const done = before.on ? `maintenance page lifted on ${env} (it was put up by ${before.owner ?? 'unknown'})` : `maintenance page of ${env} was not up; nothing changed`;
      deps.out.write(`${done}\n`);
      await auditAction(deps, handle, 'maintenance off', actor, `${done}${before.on && opts.force ? ' (--force)' : ''}`);
    });
}
