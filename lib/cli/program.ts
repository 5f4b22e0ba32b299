/**
 * The `herd` command line: one Commander program, one file per verb under `commands/`,
 * each exporting `register(program, deps)`. `main` runs it and returns the exit code;
 * every error is printed once as `herd: <message>`.
 */
import { Command, CommanderError } from 'commander';
import type { CliDeps } from './deps';
import { CliExit, EXIT, exitCodesHelp, explain } from './errors';
import * as abort from './commands/abort';
import * as autoscaling from './commands/autoscaling';
import * as bake from './commands/bake';
import * as config from './commands/config';
import * as consoleVerb from './commands/console';
import * as deploy from './commands/deploy';
import * as doctor from './commands/doctor';
import * as history from './commands/history';
import * as iamPolicy from './commands/iam-policy';
import * as logs from './commands/logs';
import * as maintenance from './commands/maintenance';
import * as plan from './commands/plan';
import * as promote from './commands/promote';
import * as releases from './commands/releases';
import * as repair from './commands/repair';
import * as restart from './commands/restart';
import * as rollback from './commands/rollback';
import * as sandbox from './commands/sandbox';
import * as run from './commands/run';
import * as status from './commands/status';
import * as unlock from './commands/unlock';
import * as watch from './commands/watch';

/** A verb of the CLI. */
export interface CliCommand {
  register(program: Command, deps: CliDeps): void;
}

/** Every verb, in the order `herd --help` lists them. Add a new verb here. */
export const COMMANDS: readonly CliCommand[] = [deploy, watch, status, logs, doctor, history, rollback, promote, abort, repair, bake, releases, maintenance, autoscaling, config, restart, run, consoleVerb, unlock, plan, iamPolicy, sandbox];

export function buildProgram(deps: CliDeps): Command {
  const program = new Command('herd');
  program
    .description('Operate herd environments: deploy releases with live progress, inspect, roll back, maintenance, autoscaling.')
    .usage('<command> [options]')
    .exitOverride()
    .showHelpAfterError('(run herd <command> --help for its usage and an example)')
    .configureOutput({
      writeOut: (text) => void deps.out.write(text),
      writeErr: (text) => void deps.err.write(text),
      outputError: (text, write) => write(text.replace(/^error: /, 'herd: ')),
    })
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  $ herd deploy staging ./examples/mootube     # pack, upload, deploy, watch',
        '  $ herd status production',
        '  $ herd rollback production',
        '  $ herd promote staging production             # the release serving staging, same image',
        '',
        exitCodesHelp(),
        'AWS credentials and region come from the usual chain (AWS_PROFILE, aws sso login, AWS_REGION).',
        'Without AWS: add --sandbox (or set HERD_SANDBOX=1) to any command to run it against a local simulated cloud (state in .herd/sandbox).',
      ].join('\n'),
    );
  for (const command of COMMANDS) command.register(program, deps);
  return program;
}

/** The configured environment the command line names, if any (for the advice in AWS errors). */
function environmentNamed(argv: readonly string[], deps: CliDeps): string | undefined {
  try {
    const names = new Set(deps.config().environments.map((e) => e.name));
    return argv.find((a) => names.has(a));
  } catch {
    return undefined; // a configuration error was the error itself
  }
}

/** Runs `argv` (the arguments after `herd`) and returns the exit code. */
export async function main(argv: readonly string[], deps: CliDeps): Promise<number> {
  const program = buildProgram(deps);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.ok;
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof CliExit) return err.exitCode;
    const { message, exitCode } = explain(err, { environment: environmentNamed(argv, deps) });
    deps.err.write(`herd: ${message}\n`);
    return exitCode;
  }
}
