/**
 * Whether a `herd` command runs in the sandbox, and how: the `--sandbox` option (anywhere
 * on the command line; taken out before the command is parsed) or `HERD_SANDBOX=1`; its
 * state directory (`HERD_SANDBOX_DIR`, default `.herd/sandbox` next to the configuration the
 * command reads, `findConfigFile`: one sandbox per app, wherever in its repository herd runs); its speed (`HERD_SANDBOX_SPEED`, virtual seconds per wall second).
 */
import * as path from 'node:path';
import { CliError } from '../cli/errors';
import { findConfigFile } from '../config/load';
import { DEFAULT_SANDBOX_SPEED } from './sandbox';

export const SANDBOX_OPTION = '--sandbox';

export interface SandboxSelection {
  /** The command line without `--sandbox`. */
  readonly argv: readonly string[];
  /** Set when the command runs in the sandbox. */
  readonly sandbox?: { readonly dir: string; readonly speed: number };
}

/** Reads the command line and the environment variables; throws a `CliError` on an unusable `HERD_SANDBOX_SPEED`. */
export function sandboxSelection(argv: readonly string[], env: NodeJS.ProcessEnv, cwd: string): SandboxSelection {
  const end = argv.indexOf('--');
  const options = end < 0 ? argv : argv.slice(0, end);
  const flagged = options.includes(SANDBOX_OPTION);
  const rest = [...options.filter((a) => a !== SANDBOX_OPTION), ...(end < 0 ? [] : argv.slice(end))];
  const variable = env.HERD_SANDBOX;
  if (!flagged && (variable === undefined || variable === '' || variable === '0')) return { argv: rest };
  const rawSpeed = env.HERD_SANDBOX_SPEED;
  const speed = rawSpeed === undefined || rawSpeed === '' ? DEFAULT_SANDBOX_SPEED : Number(rawSpeed);
  if (!(speed > 0)) {
    throw new CliError(`HERD_SANDBOX_SPEED must be a positive number of virtual seconds per wall second (received ${JSON.stringify(rawSpeed)}); unset it for ${DEFAULT_SANDBOX_SPEED}`);
  }
  const dir = env.HERD_SANDBOX_DIR ? path.resolve(cwd, env.HERD_SANDBOX_DIR) : path.join(configDirectory(cwd, env), '.herd', 'sandbox');
  return { argv: rest, sandbox: { dir, speed } };
}

/** The directory of the configuration the command reads; the working directory when there is none (the command then says so). */
function configDirectory(cwd: string, env: NodeJS.ProcessEnv): string {
  try {
    return path.dirname(findConfigFile(cwd, env));
  } catch {
    return cwd;
  }
}
