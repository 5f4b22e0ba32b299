/** Errors the CLI reports as `herd: <message>` with an exit code, and how AWS errors become them. */

import { explainAwsError, type AwsErrorContext } from './aws-errors';

/** Exit codes of every `herd` command. */
export const EXIT = {
  /** Done; for `deploy`/`rollback`/`bake`: the release serves (or the image is ready). */
  ok: 0,
  /** The operation failed: a deploy failed and rolled back, or AWS refused a call. */
  failed: 1,
  /** Usage or input error: unknown environment, bad option, unknown release, refused. Nothing changed. */
  usage: 2,
  /** Detached: the deploy is still running (`--detach`, Ctrl-C). */
  detached: 3,
} as const;

/** A failure the operator can act on; printed as `herd: <message>`. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
  }
}

/**
 * Turns any error into what the operator reads, with its exit code: AWS errors in the
 * operator's words (`aws-errors.ts`: credentials, profile, region, access denied, network,
 * a stack not deployed yet), a configuration error, or the error as it is.
 */
export function explain(err: unknown, context: AwsErrorContext = {}): { message: string; exitCode: number } {
  if (err instanceof CliError) return { message: err.message, exitCode: err.exitCode };
  const aws = explainAwsError(err, context);
  if (aws) return aws;
  if (err instanceof Error) {
    if (err.name === 'ConfigError') return { message: err.message.replace('; nothing was synthesized', ''), exitCode: EXIT.usage };
    const name = err.name && err.name !== 'Error' ? `${err.name}: ` : '';
    return { message: `${name}${err.message}`, exitCode: EXIT.failed };
  }
  return { message: String(err), exitCode: EXIT.failed };
}

/** True when `err` is an AWS error with this code. */
export function isAwsCode(err: unknown, ...codes: string[]): boolean {
  return err instanceof Error && codes.includes(err.name);
}

/** Leaves with an exit code after the command printed what it had to say (no `herd:` line). */
export class CliExit extends CliError {
  constructor(exitCode: number) {
    super('', exitCode);
  }
}

/** Ends the command with `code` (0 returns normally). */
export function exitWith(code: number): void {
  if (code !== EXIT.ok) throw new CliExit(code);
}
