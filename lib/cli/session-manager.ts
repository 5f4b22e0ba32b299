/**
 * The Session Manager side of `herd console`: an interactive shell on an instance, through
 * SSM `StartSession` and AWS's `session-manager-plugin` (no SSH, no port 22), the way the AWS
 * CLI's `aws ssm start-session` does it: StartSession, then the plugin with the response, the
 * region, the operation, the profile, the request and the endpoint as its arguments, stdio
 * inherited; TerminateSession when the plugin has exited (it may have ended the session
 * already; ending it again changes nothing).
 *
 * The shell runs through the AWS-owned `AWS-StartInteractiveCommand` document (parameter
 * `command`), as the app user with the app's environment: the env file is root's (0600), so
 * it is read as root (the session's `ssm-user` may sudo), then the shell drops to the app user
 * with `setpriv`, as herd-boot runs the app's commands.
 */
import { StartSessionCommand, TerminateSessionCommand } from '@aws-sdk/client-ssm';
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import * as path from 'node:path';
import type { CliDeps } from './deps';
import type { EnvironmentHandle } from './environment';
import { CliError } from './errors';

export const SESSION_MANAGER_PLUGIN = 'session-manager-plugin';
export const PLUGIN_INSTALL_URL = 'https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html';
/** The AWS-owned session document that runs one interactive command. */
export const CONSOLE_DOCUMENT = 'AWS-StartInteractiveCommand';

/** The plugin's path on `PATH`, or undefined. */
export function findPlugin(pathVariable: string | undefined = process.env.PATH): string | undefined {
  for (const dir of (pathVariable ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, SESSION_MANAGER_PLUGIN);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The plugin, or a usage error (nothing changed) saying how to install it. */
export function requirePlugin(pathVariable: string | undefined = process.env.PATH): string {
  const found = findPlugin(pathVariable);
  if (!found) {
    throw new CliError(
      `${SESSION_MANAGER_PLUGIN} is not on your PATH: herd console opens its shell through the AWS Session Manager plugin; install it (${PLUGIN_INSTALL_URL}), check with \`${SESSION_MANAGER_PLUGIN} --version\`, and try again; nothing was changed`,
    );
  }
  return found;
}

/** The shell command: the app's environment read as root, then a login-like shell as the app user in the release directory. */
export function consoleCommand(app: string): string {
  const dir = `/srv/${app}`;
  const inner = [
    'set -a',
    `. /etc/herd/${app}.env`,
    'set +a',
    `cd ${dir}/current`,
    `exec setpriv --reuid=${app} --regid=${app} --init-groups env HOME=${dir} USER=${app} PATH=${dir}/current/.venv/bin:${dir}/current/bin:/usr/local/bin:/usr/bin:/bin bash -i`,
  ].join(' && ');
  return `sudo /bin/bash -c '${inner}'`;
}

/** Where the operator's session goes, for the plugin's arguments. */
export interface SessionTarget {
  readonly instanceId: string;
  readonly reason: string;
}

/** Runs the plugin with `args`, stdio inherited; resolves with its exit code. Ctrl-C goes to the remote shell, not to herd. */
function runPlugin(deps: CliDeps, plugin: string, args: readonly string[]): Promise<number> {
  const ignore = deps.onInterrupt(() => undefined);
  return new Promise<number>((resolve, reject) => {
    const child = spawn(plugin, [...args], { stdio: 'inherit', env: process.env });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  }).finally(ignore);
}

/**
 * StartSession on the target, then the plugin; TerminateSession after it. Returns the plugin's
 * exit code. `region`: the environment's, else the operator's default (AWS_REGION).
 */
export async function openShell(deps: CliDeps, handle: EnvironmentHandle, plugin: string, target: SessionTarget, region: string): Promise<{ sessionId: string; exitCode: number }> {
  const request = { Target: target.instanceId, DocumentName: CONSOLE_DOCUMENT, Parameters: { command: [consoleCommand(handle.app)] }, Reason: target.reason };
  const response = await handle.clients.ssm.send(new StartSessionCommand(request));
  const sessionId = response.SessionId ?? '';
  const session = { SessionId: sessionId, TokenValue: response.TokenValue, StreamUrl: response.StreamUrl };
  let exitCode = 1;
  try {
    exitCode = await runPlugin(deps, plugin, [
      JSON.stringify(session),
      region,
      'StartSession',
      process.env.AWS_PROFILE ?? '',
      JSON.stringify({ Target: request.Target, DocumentName: request.DocumentName, Parameters: request.Parameters }),
      `https://ssm.${region}.amazonaws.com`,
    ]);
  } finally {
    try {
      await handle.clients.ssm.send(new TerminateSessionCommand({ SessionId: sessionId }));
    } catch (err) {
      deps.err.write(`herd: warning: could not end session ${sessionId} (${err instanceof Error ? err.message : String(err)}); it ends when its idle timeout passes\n`);
    }
  }
  return { sessionId, exitCode };
}
