/** Errors the CLI reports as `herd: <message>` with an exit code, and how AWS errors become them. */

import { explainAwsError, type AwsErrorContext } from './aws-errors';

/**
 * Exit codes of every `herd` command: the one table `herd --help` and the README print
 * (`EXIT_CODES`; a test keeps the README's copy equal to it).
 */
export const EXIT = {
  /** Done; for `deploy`/`rollback`/`promote`/`bake`: the release serves (or the image is ready). */
  ok: 0,
  /** The operation failed: a deploy failed and rolled back, or AWS refused a call. */
  failed: 1,
  /** Usage or input error: unknown environment, bad option, unknown release, refused. Nothing changed. */
  usage: 2,
  /** Detached: the deploy is still running (`--detach`, Ctrl-C). */
  detached: 3,
} as const;

/** What each exit code means to an operator or a CI job, in code order. */
export const EXIT_CODES: readonly { readonly code: number; readonly name: keyof typeof EXIT; readonly summary: string; readonly meaning: string; readonly then: string }[] = [
  {
    code: EXIT.ok,
    name: 'ok',
    summary: 'done (the release serves, the image is ready, the change is made)',
    meaning: 'done: the release serves (`deploy`, `rollback`, `promote`), the image is ready (`bake`), the previous release is back (`abort`, `repair`), or the read or change succeeded',
    then: 'nothing',
  },
  {
    code: EXIT.failed,
    name: 'failed',
    summary: 'failed (the deploy rolled back or needs attention; AWS refused)',
    meaning: 'failed: the deploy failed and was rolled back (the previous release serves), needs attention (`herd repair`), or AWS refused or could not be reached',
    then: 'read the `herd:` line; `herd status <env>` and `herd history <env>` say what serves',
  },
  {
    code: EXIT.usage,
    name: 'usage',
    summary: 'refused: usage, input or configuration error (nothing changed)',
    meaning: 'refused before any change: bad usage or input, unknown environment or release, configuration error, the environment is locked',
    then: 'fix what the `herd:` line names and run it again: nothing changed',
  },
  {
    code: EXIT.detached,
    name: 'detached',
    summary: 'detached (the deploy goes on; herd watch follows it)',
    meaning: 'detached: the deploy goes on without the CLI (`--detach`, or Ctrl-C while watching)',
    then: '`herd watch <env>` follows it; `herd status <env>` shows it',
  },
];

/** The exit codes as `herd --help` prints them. */
export function exitCodesHelp(): string {
  return ['Exit codes:', ...EXIT_CODES.map((e) => `  ${e.code}  ${e.summary}`)].join('\n');
}

/** The exit codes as the README's table (between `<!-- exit-codes -->` markers). */
export function exitCodesMarkdown(): string {
  return ['| code | meaning | what to do |', '|---|---|---|', ...EXIT_CODES.map((e) => `| ${e.code} | ${e.meaning} | ${e.then} |`)].join('\n');
}

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
