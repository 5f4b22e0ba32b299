/**
 * A local `moto_server` (a real implementation of the AWS APIs, from `.venv`) for wire-level
 * tests: each test file starts its own on a free loopback port and stops it in `afterAll`.
 *
 *   const moto = startMoto();            // at the top of a describe: registers beforeAll/afterAll
 *   beforeAll(() => moto.ready);
 *   … new EC2Client(moto.clientConfig()) …
 *
 * or, without the jest hooks: `const server = await launchMoto(); … await server.stop();`.
 * A missing `moto_server` is an error (the wire tests must fail in CI, never skip).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { answers, exited, freePort, sleep } from './local-server';

export const MOTO_SERVER = path.resolve(__dirname, '..', '..', '.venv', 'bin', 'moto_server');

/** Region and credentials every wire test uses (moto accepts any credentials; its account is 123456789012). */
export const MOTO_REGION = 'us-east-1';
export const MOTO_ACCOUNT = '123456789012';
const CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' } as const;

export interface MotoServer {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  /** Forgets every resource (`POST /moto-api/reset`). */
  reset(): Promise<void>;
  /** Kills the server and waits for it to exit (idempotent). */
  stop(): Promise<void>;
}

/** Configuration of an SDK v3 client talking to `server`. */
export function clientConfig(server: Pick<MotoServer, 'endpoint'>) {
  return {
    endpoint: server.endpoint,
    region: MOTO_REGION,
    credentials: CREDENTIALS,
    maxAttempts: 2,
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  // SIGKILL if it ignores SIGTERM for 3 s (the timer is cleared as soon as it exits).
  const timer = setTimeout(() => {
    if (!exited(child)) child.kill('SIGKILL');
  }, 3000);
  await done;
  clearTimeout(timer);
}

/** Polls this many times, 100 ms apart, before giving up on a server that does not answer. */
const READY_TRIES = 100;
/** Ports tried when the chosen one was taken between choosing and binding. */
const PORT_TRIES = 3;

/** Starts `moto_server` on a free loopback port and resolves once it answers. */
export async function launchMoto(binary: string = MOTO_SERVER): Promise<MotoServer> {
  if (!existsSync(binary)) {
    throw new Error(`moto_server not found at ${binary}: the wire tests need it; run \`bash scripts/setup.sh\` (it installs moto[server] into .venv)`);
  }
  let lastError = '';
  for (let attempt = 0; attempt < PORT_TRIES; attempt++) {
    const port = await freePort();
    const child = spawn(binary, ['-H', '127.0.0.1', '-p', String(port)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4000);
    });
    const endpoint = `http://127.0.0.1:${port}`;
    for (let i = 0; i < READY_TRIES && !exited(child); i++) {
      if (await answers(`${endpoint}/moto-api/`)) {
        return {
          endpoint,
          port,
          async reset() {
            const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
            await res.arrayBuffer();
            if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status}`);
          },
          stop: () => stopChild(child),
        };
      }
      await sleep(100);
    }
    await stopChild(child);
    lastError = stderr.trim();
    // A server that exited early most likely lost the port to another process: try another one.
  }
  throw new Error(`moto_server did not answer on 127.0.0.1 after ${PORT_TRIES} attempts; its last output:\n${lastError}`);
}

export interface MotoHandle {
  /** Resolves with the server once `beforeAll` has started it. */
  readonly ready: Promise<MotoServer>;
  /** The running server; throws when used before `beforeAll` ran. */
  server(): MotoServer;
}

/**
 * Registers `beforeAll` (start) and `afterAll` (stop) in the current jest scope.
 * The server is killed in `afterAll` whatever the tests did.
 */
export function startMoto(): MotoHandle {
  let running: MotoServer | undefined;
  let resolveReady: (s: MotoServer) => void = () => undefined;
  let rejectReady: (e: unknown) => void = () => undefined;
  const ready = new Promise<MotoServer>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  // Only the beforeAll below awaits `ready`; keep an unhandled rejection from masking its error.
  ready.catch(() => undefined);
  beforeAll(async () => {
    try {
      running = await launchMoto();
      resolveReady(running);
    } catch (err) {
      rejectReady(err);
      throw err;
    }
  }, 30_000);
  afterAll(async () => {
    await running?.stop();
  });
  return {
    ready,
    server() {
      if (!running) throw new Error('moto_server is not running (startMoto() must be called in a describe, and used from tests or beforeAll)');
      return running;
    },
  };
}
