/**
 * `herd maintenance on|off <env>`: the maintenance page, with the bypass shown;
 * `herd maintenance rotate-bypass <env>`: a new bypass value (`bypass-rotation.ts`), refused
 * during a deploy. Each is recorded in the history as the caller; a bypass value never is.
 */
import type { Command } from 'commander';
import { MaintenanceOwnedError, NotVisibleYetError } from '../../../lambda/deploy/errors';
import { MANUAL_OWNER, MaintenanceSlotTakenError, maintenanceOff, maintenanceOn, takeOverPage, type MaintenanceStatus } from '../../../lambda/deploy/maintenance';
import { BYPASS_HEADER } from '../../names';
import { lockedMessage, readLock } from '../../../lambda/deploy/lock';
import { auditAction } from '../audit';
import { NoBypassRuleError, RotationIncompleteError, rotateBypass } from '../bypass-rotation';
import type { CliDeps } from '../deps';
import { resolveEnvironment, type EnvironmentHandle } from '../environment';
import { CliError, EXIT } from '../errors';

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
    .addHelpText('after', ['', 'Examples:', '  $ herd maintenance on production', '  $ herd maintenance off production', '  $ herd maintenance rotate-bypass production'].join('\n'));

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

  maintenance
    .command('rotate-bypass')
    .description(`give the ${BYPASS_HEADER} bypass a new value (no moment where an operator's value stops working mid-check; refused during a deploy; the value is never printed)`)
    .argument('<env>', 'environment (herd.config.ts)')
    .addHelpText('after', ['', 'Example:', '  $ herd maintenance rotate-bypass production', '', 'Who can read the value: anyone allowed secretsmanager:GetSecretValue on the secret, and anyone allowed', 'elasticloadbalancing:DescribeRules on the listener (the rule holds the value).'].join('\n'))
    .action(async (env: string) => {
      const handle = await resolveEnvironment(deps, env);
      const secretArn = handle.outputs.maintenanceBypassSecretArn;
      if (!secretArn) {
        throw new CliError(`${env} has no bypass header to rotate (its stack outputs no MaintenanceBypassSecretArn: maintenance.bypassHeader is false); set maintenance.bypassHeader: true and run cdk deploy to have one; nothing was changed`, EXIT.usage);
      }
      // A deploy's checks through the bypass would see the value change under them; and one thing at a time.
      const holder = await readLock(handle.clients, handle.outputs.deployTableName);
      if (holder) {
        throw new CliError(`${lockedMessage(env, holder)}. The bypass value does not change while a deploy runs (its checks may be using it): wait for it to end (herd watch ${env}), then run this again; nothing was changed`, EXIT.usage);
      }
      const actor = await deps.actor(handle.clients);
      let done: string;
      try {
        const result = await rotateBypass(handle.clients, { env, listenerArn: handle.outputs.listenerArn, secretArn });
        done =
          `bypass value of ${env} rotated: the ${BYPASS_HEADER} rule accepts only the new value, stored in ${secretArn}` +
          (result.finishedPrevious ? ' (a previous rotation left part-way is finished too)' : '') +
          (result.storedWasRefused ? ' (the rule did not accept the stored value before: it had been changed by hand; both agree now)' : '');
      } catch (err) {
        if (err instanceof NoBypassRuleError) throw new CliError(err.message, EXIT.usage);
        if (err instanceof RotationIncompleteError) {
          await auditAction(deps, handle, 'maintenance rotate-bypass', actor, `bypass rotation stopped part-way (${err.step === 'store' ? 'the new value may not be stored' : 'the previous value is still accepted'}); every operator's value still works`);
          throw new CliError(err.message, EXIT.failed);
        }
        throw err;
      }
      deps.out.write(`${done}\n`);
      await auditAction(deps, handle, 'maintenance rotate-bypass', actor, done);
      deps.out.write(bypassHelp(handle));
    });
}
