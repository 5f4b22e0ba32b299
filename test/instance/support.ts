import { spawn, spawnSync } from 'child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { IncomingMessage, ServerResponse, createServer } from 'http';
import { AddressInfo } from 'net';
import { tmpdir } from 'os';
import * as path from 'path';

/** Paths of the repository, independent of the working directory. */
export const REPO = path.resolve(__dirname, '..', '..');
export const INSTANCE_DIR = path.join(REPO, 'instance');
export const BAKE = path.join(INSTANCE_DIR, 'bake.sh');
export const BOOT = path.join(INSTANCE_DIR, 'boot.sh');
export const EXAMPLE_APP = path.join(REPO, 'examples', 'mootube');
export const CACHE_DIR = path.join(REPO, '.cache');

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly input?: string;
  readonly timeoutMs?: number;
}

/**
 * Runs a command without blocking the event loop (tests serve fake endpoints from this
 * process while the command runs).
 */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 110_000);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    // A command that refuses its arguments exits before reading its input: writing to it then
    // fails with EPIPE, which is not the command's result (its exit code and output are).
    child.stdin.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') reject(err);
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Synchronous variant for setup steps; throws with the output when the command fails. */
export function runOrThrow(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): string {
  const result = spawnSync(command, args, {
    env: options.env ?? process.env, cwd: options.cwd, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024,
  });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stderr}${result.stdout}`);
  }
  return result.stdout;
}

export function hasCommand(command: string): boolean {
  const found = command.startsWith('/')
    ? spawnSync('test', ['-x', command])
    : spawnSync('bash', ['-c', 'command -v "$1"', '_', command]);
  return found.status === 0;
}

/**
 * `describe` when every requirement holds. Otherwise, under CI=true, a suite whose single
 * test fails naming what is missing; locally, a skipped suite with a message.
 */
export function describeWith(
  requirements: Record<string, boolean>,
  name: string,
  body: () => void,
): void {
  const missing = Object.entries(requirements).filter(([, ok]) => !ok).map(([what]) => what);
  if (missing.length === 0) {
    describe(name, body);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      test('has its requirements', () => {
        throw new Error(`missing requirements: ${missing.join(', ')} (see scripts/system-packages.txt)`);
      });
    });
  } else {
    // eslint-disable-next-line no-console
    console.warn(`SKIPPED "${name}": missing ${missing.join(', ')} (install scripts/system-packages.txt; CI=true makes this fail)`);
    describe.skip(name, body);
  }
}

export const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

const tempDirs: string[] = [];

/** A new directory under the system temp dir, removed after the test file. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `herd-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

afterAll(() => {
  if (process.env.HERD_KEEP_TEST_DIRS === 'true') return;
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Where the amazon-cloudwatch-agent package puts its control script (bake.sh checks it). */
export const AGENT_CTL = '/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl';

/**
 * A stand-in for dnf: records its arguments as one line in `$STUB_DIR/dnf.log`. `dnf
 * --installroot <root> install … amazon-cloudwatch-agent …` creates the package's control
 * script under <root>, as the package would; without --installroot it writes nothing
 * (never the host). `$STUB_DIR/dnf-error` makes it print that file to stderr and exit 1;
 * `$STUB_DIR/dnf-installs-nothing` makes it succeed without writing anything.
 */
export const DNF_STUB = `#!/usr/bin/env bash
set -euo pipefail
printf '%s\\n' "$*" >>"$STUB_DIR/dnf.log"
if [[ -f $STUB_DIR/dnf-error ]]; then cat "$STUB_DIR/dnf-error" >&2; exit 1; fi
[[ -f $STUB_DIR/dnf-installs-nothing ]] && exit 0
[[ \${1:-} == --installroot ]] || exit 0
root="$2"
shift 2
[[ \${1:-} == install ]] || exit 0
for package in "$@"; do
  if [[ $package == amazon-cloudwatch-agent ]]; then
    ctl="$root${AGENT_CTL}"
    mkdir -p "$(dirname "$ctl")"
    printf '#!/bin/sh\\n# amazon-cloudwatch-agent-ctl, installed by the dnf stub\\n' >"$ctl"
    chmod 0755 "$ctl"
  fi
done
`;

/** Writes the dnf stub into the directory `bin`. */
export function writeDnfStub(bin: string): void {
  writeFileSync(path.join(bin, 'dnf'), DNF_STUB, { mode: 0o755 });
}

export interface BakeStubs {
  /** $STUB_DIR: the stubs' records (dnf.log) and switches (dnf-error, dnf-installs-nothing). */
  readonly stubDir: string;
  /** The environment to run bake.sh in: the dnf stub first on PATH, STUB_DIR. */
  readonly env: NodeJS.ProcessEnv;
  /** The argument lines dnf was called with, in order. */
  dnfCalls(): string[];
}

/** A stub directory for bake.sh (which installs the CloudWatch agent with dnf). */
export function bakeStubs(): BakeStubs {
  const stubDir = tempDir('bake-stubs');
  const bin = path.join(stubDir, 'bin');
  mkdirSync(bin);
  writeDnfStub(bin);
  return {
    stubDir,
    env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`, STUB_DIR: stubDir },
    dnfCalls: () => {
      const log = path.join(stubDir, 'dnf.log');
      return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((l) => l !== '') : [];
    },
  };
}

/** An empty root with the account files useradd --prefix needs, like a fresh image. */
export function scratchRoot(): string {
  const root = tempDir('root');
  chmodSync(root, 0o755); // like /: the app user must traverse it
  mkdirSync(path.join(root, 'etc'));
  writeFileSync(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  writeFileSync(path.join(root, 'etc', 'group'), 'root:x:0:\n');
  writeFileSync(path.join(root, 'etc', 'shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
  writeFileSync(path.join(root, 'etc', 'gshadow'), 'root:*::\n', { mode: 0o640 });
  return root;
}

/** Writes a small app (files relative to the app root) into a new temp directory. */
export function writeApp(files: Record<string, string>, executables: readonly string[] = []): string {
  const dir = tempDir('app');
  for (const [relative, content] of Object.entries(files)) {
    const file = path.join(dir, relative);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
    chmodSync(file, executables.includes(relative) ? 0o755 : 0o644);
  }
  return dir;
}

/** The uid of `user` in the scratch root's /etc/passwd. */
export function uidIn(root: string, user: string): number {
  const line = runOrThrow('awk', ['-F:', '-v', `u=${user}`, '$1 == u { print $3 }', path.join(root, 'etc', 'passwd')]).trim();
  if (!/^\d+$/.test(line)) throw new Error(`user ${user} not found in ${root}/etc/passwd`);
  return Number(line);
}

/** Every path under `dir` with its type, mode, owner and (for files) SHA-256, sorted. */
export function treeListing(dir: string): string {
  return runOrThrow('bash', ['-c',
    'cd "$1" && find . -printf "%y %m %U:%G %p -> %l\\n" | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum',
    '_', dir]);
}

/** The Python venv the tests use for the example app (created once, reused). */
export const VENV = path.join(CACHE_DIR, 'mootube-venv');

/** Creates or refreshes the test venv with the example app's requirements. */
export function ensureVenv(): string {
  const python = path.join(VENV, 'bin', 'python');
  const stamp = path.join(VENV, '.requirements');
  const requirements = readFileSync(path.join(EXAMPLE_APP, 'requirements.txt'), 'utf8');
  if (!existsSync(python)) {
    mkdirSync(CACHE_DIR, { recursive: true });
    runOrThrow('python3', ['-m', 'venv', VENV]);
  }
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== requirements) {
    runOrThrow(path.join(VENV, 'bin', 'pip'), ['install', '--quiet', '-r', path.join(EXAMPLE_APP, 'requirements.txt')]);
    writeFileSync(stamp, requirements);
  }
  return python;
}

/**
 * A local stand-in for the EC2 instance metadata service that insists on IMDSv2 (a token
 * from PUT /latest/api/token on every request), answering the instance id and region.
 * Scripts under test reach it through `HERD_IMDS_URL`.
 */
export async function startImds(instanceId: string, token: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'PUT' && req.url === '/latest/api/token'
      && req.headers['x-aws-ec2-metadata-token-ttl-seconds'] !== undefined) {
      res.end(token);
    } else if (req.headers['x-aws-ec2-metadata-token'] !== token) {
      res.statusCode = 401;
      res.end();
    } else if (req.url === '/latest/meta-data/instance-id') {
      res.end(instanceId);
    } else if (req.url === '/latest/meta-data/placement/region') {
      res.end('eu-west-1');
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
