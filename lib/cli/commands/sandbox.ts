/**
 * `herd sandbox reset|fault|faults`: the sandbox's own verbs (`herd --sandbox`, `lib/sandbox/`):
 * start over, arm a fault for the next deploy of an environment (or clear them), list the
 * faults. Outside the sandbox they refuse, saying how to get into it.
 */
import type { Command } from 'commander';
import type { CliDeps, SandboxControl } from '../deps';
import { CliError } from '../errors';
import { table } from '../output';

/** The environment faults go to when `--env` is not given. */
const DEFAULT_FAULT_ENV = 'staging';

function inSandbox(deps: CliDeps, verb: string): SandboxControl {
  if (!deps.sandbox) throw new CliError(`herd sandbox ${verb} acts on the local sandbox only: add --sandbox (herd sandbox ${verb} --sandbox), or set HERD_SANDBOX=1; nothing was changed`);
  return deps.sandbox;
}

export function register(program: Command, deps: CliDeps): void {
  const sandbox = program
    .command('sandbox')
    .description('the local sandbox (herd --sandbox): start over, rehearse a failure with a fault')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  $ herd sandbox reset --sandbox',
        '  $ herd sandbox fault failing-migration --env staging --sandbox   # the next deploy on staging',
        '  $ herd sandbox faults --sandbox',
        '  $ herd sandbox fault clear --sandbox',
      ].join('\n'),
    );
  const example = (...lines: string[]) => ['', lines.length > 1 ? 'Examples:' : 'Example:', ...lines.map((l) => `  $ ${l}`)].join('\n');
  sandbox
    .command('reset')
    .description('delete the sandbox state: every environment is back as freshly deployed, with no release')
    .addHelpText('after', example('herd sandbox reset --sandbox'))
    .action(() => {
      const control = inSandbox(deps, 'reset');
      control.reset();
      deps.out.write(`sandbox reset: the state in ${control.dir} is deleted; the next command starts from freshly deployed environments\n`);
    });
  sandbox
    .command('fault')
    .description('arm a fault for the next deploy started on an environment (`clear`: lift them); `herd sandbox faults` lists the kinds')
    .argument('<kind>', 'the fault (herd sandbox faults), or clear')
    .option('--env <env>', `environment (default ${DEFAULT_FAULT_ENV}; with clear: every environment)`)
    .addHelpText('after', example('herd sandbox fault failing-migration --env staging --sandbox', 'herd deploy staging ./examples/mootube --sandbox   # fails in its migration, rolls back', 'herd sandbox fault clear --sandbox'))
    .action((kind: string, opts: { env?: string }) => {
      const control = inSandbox(deps, 'fault');
      if (kind === 'clear') {
        control.clearFaults(opts.env);
        deps.out.write(`faults cleared on ${opts.env ?? 'every environment'}: the next deploys run as usual\n`);
        return;
      }
      const env = opts.env ?? DEFAULT_FAULT_ENV;
      control.armFault(kind, env);
      deps.out.write(`fault ${kind} armed for the next deploy on ${env}: ${control.faultKinds[kind]}\n`);
    });
  sandbox
    .command('faults')
    .description('the faults the sandbox knows, and those armed or in effect')
    .addHelpText('after', example('herd sandbox faults --sandbox'))
    .action(() => {
      const control = inSandbox(deps, 'faults');
      deps.out.write(`${table(['fault', 'what it does'], Object.entries(control.faultKinds))}\n`);
      const faults = control.faults();
      if (faults.length === 0) {
        deps.out.write('no fault armed or in effect\n');
        return;
      }
      deps.out.write(`${table(['environment', 'fault', 'state', 'deploy'], faults.map((f) => [f.env, f.kind, f.state, f.deployId ?? '']))}\n`);
    });
}
