/**
 * A local `ministack` (an AWS emulator independent of herd's fake cloud and of moto, from
 * `.venv`, pinned in requirements-dev.txt) for the end-to-end emulator test
 * (`test/emulator/ministack.test.ts`): CloudFormation that takes the real templates, Lambda
 * that runs the real Node.js bundles with this machine's `node` (no Docker), and a Step
 * Functions engine that executes the real state machine definition.
 *
 *   const server = await launchMinistack({ waitScale: 0.01 });
 *   … AWS_ENDPOINT_URL=server.endpoint, credentials MINISTACK_CREDENTIALS …
 *   await server.stop();
 *
 * The server runs in a process group of its own: `stop()` ends it and every Lambda worker it
 * spawned. A missing `ministack` is an error (the test must fail in CI, never skip).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { answers, exited, freePort, sleep } from './local-server';

const ROOT = path.resolve(__dirname, '..', '..');
export const MINISTACK = path.join(ROOT, '.venv', 'bin', 'ministack');

/** Region and credentials of every call to the emulator (it accepts any well-formed credentials unless AUTH=true). */
export const MINISTACK_REGION = 'us-east-1';
export const MINISTACK_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' } as const;

export interface MinistackServer {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  /** The server's log (its own lines and its Lambdas' output), for a failing test's message. */
  log(): string;
  /** Ends the server and its Lambda workers (the whole process group) and waits for it (idempotent). */
  stop(): Promise<void>;
}

export interface MinistackOptions {
  /**
   * Factor applied to every Step Functions wait and retry interval (`SFN_WAIT_SCALE`): 0.01
   * turns the deploy loop's 15 s polls into 0.15 s. Durations the Lambda computes itself
   * (deadlines, grace periods) run on the wall clock, unscaled.
   */
  readonly waitScale?: number;
  /** Where the server's output goes (a file: a pipe nobody reads would block it). */
  readonly logFile: string;
}

/** Configuration of an SDK v3 client talking to `server`. */
export function ministackClientConfig(server: Pick<MinistackServer, 'endpoint'>) {
  return { endpoint: server.endpoint, region: MINISTACK_REGION, credentials: MINISTACK_CREDENTIALS, maxAttempts: 3 };
}

/**
 * Environment of a process (the CDK CLI) talking to `server`: the emulator's endpoint for
 * every service, dummy credentials, and nothing from the caller's AWS configuration.
 */
export function ministackProcessEnv(server: Pick<MinistackServer, 'endpoint'>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('AWS_') && !key.startsWith('CDK_')) env[key] = value;
  }
  return {
    ...env,
    AWS_ENDPOINT_URL: server.endpoint,
    AWS_ACCESS_KEY_ID: MINISTACK_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: MINISTACK_CREDENTIALS.secretAccessKey,
    AWS_REGION: MINISTACK_REGION,
    AWS_DEFAULT_REGION: MINISTACK_REGION,
    // No config file or profile of the machine's user may redirect a call to a real account.
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
    CI: 'true',
  };
}

/** Signals the child's whole process group (the server and its Lambda workers). */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (exited(child)) {
    signalGroup(child, 'SIGKILL'); // workers the server left behind
    return;
  }
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  signalGroup(child, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), 3000);
  await done;
  clearTimeout(timer);
  signalGroup(child, 'SIGKILL');
}

/** Polls this many times, 100 ms apart, before giving up on a server that does not answer. */
const READY_TRIES = 150;
/** Ports tried when the chosen one was taken between choosing and binding. */
const PORT_TRIES = 3;

/** Starts `ministack` on a free loopback port and resolves once it answers its health check. */
export async function launchMinistack(options: MinistackOptions): Promise<MinistackServer> {
  if (!existsSync(MINISTACK)) {
    throw new Error(`ministack not found at ${MINISTACK}: the emulator test needs it; run \`bash scripts/setup.sh\` (it installs requirements-dev.txt into .venv)`);
  }
  const readLog = () => {
    try {
      return readFileSync(options.logFile, 'utf8');
    } catch {
      return '';
    }
  };
  for (let attempt = 0; attempt < PORT_TRIES; attempt++) {
    const port = await freePort();
    const out = openSync(options.logFile, 'w');
    const child = spawn(MINISTACK, [], {
      detached: true, // a process group of its own, so stop() reaches the Lambda workers too
      stdio: ['ignore', out, out],
      env: {
        ...ministackProcessEnv({ endpoint: `http://127.0.0.1:${port}` }),
        GATEWAY_PORT: String(port),
        BIND_HOST: '127.0.0.1',
        // The IoT broker would bind the fixed port 8883; nothing here uses it.
        IOT_MTLS_ENABLED: '0',
        SFN_WAIT_SCALE: String(options.waitScale ?? 1),
        // Node.js Lambdas run with this machine's node. A function that relies on the SDK the
        // Lambda runtime provides (CDK's own custom-resource handlers) finds herd's installed
        // SDK v3 here; herd's functions bundle theirs.
        NODE_PATH: path.join(ROOT, 'node_modules'),
        LOG_LEVEL: 'INFO',
      },
    });
    closeSync(out);
    const endpoint = `http://127.0.0.1:${port}`;
    for (let i = 0; i < READY_TRIES && !exited(child); i++) {
      if (await answers(`${endpoint}/_ministack/health`)) {
        return { endpoint, port, log: readLog, stop: () => stopChild(child) };
      }
      await sleep(100);
    }
    await stopChild(child);
    // A server that exited early most likely lost the port to another process: try another one.
  }
  throw new Error(`ministack did not answer on 127.0.0.1 after ${PORT_TRIES} attempts; its last output:\n${readLog().slice(-4000)}`);
}
