/**
 * The sandbox's state between commands: a state it cannot use is refused with what is
 * wrong and how to start over (and `herd sandbox reset` still works); one command at a
 * time; virtual time catches up with the wall clock, at most 30 minutes.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveConfig } from '../../lib/config/validate';
import { SNAPSHOT_FORMAT } from '../../lib/sandbox/snapshot';
import { MAX_CATCH_UP_SECONDS } from '../../lib/sandbox/sandbox';
import { MOOTUBE, SandboxHarness, sandboxConfig } from './support';

jest.setTimeout(30_000);

const statePath = (sandbox: SandboxHarness) => path.join(sandbox.dir, 'state.json');

describe('herd --sandbox: the state', () => {
  const sandboxes: SandboxHarness[] = [];
  const made = (config = sandboxConfig()) => {
    const s = new SandboxHarness(config);
    sandboxes.push(s);
    return s;
  };
  /** A sandbox whose state a first command saved. */
  async function saved(): Promise<SandboxHarness> {
    const sandbox = made();
    expect((await sandbox.herd(['maintenance', 'on', 'staging'])).code).toBe(0);
    return sandbox;
  }
  afterAll(() => sandboxes.forEach((s) => s.remove()));

  test('fails when the state is unreadable, naming the file and `herd sandbox reset`; reset starts over', async () => {
    const sandbox = await saved();
    fs.writeFileSync(statePath(sandbox), '{"format": 1, "app": ');

    const status = await sandbox.herd(['status', 'staging']);

    expect(status.code).toBe(2);
    expect(status.err).toContain(`herd: the sandbox's state ${statePath(sandbox)} cannot be read (`);
    expect(status.err).toContain('start over with `herd sandbox reset`');
    expect(fs.readFileSync(statePath(sandbox), 'utf8')).toBe('{"format": 1, "app": ');

    expect((await sandbox.herd(['sandbox', 'reset'])).code).toBe(0);
    expect(fs.existsSync(statePath(sandbox))).toBe(false);
    expect((await sandbox.status('staging')).maintenance.on).toBe(false);
  });

  test('fails when the state is of another format', async () => {
    const sandbox = await saved();
    const state = JSON.parse(fs.readFileSync(statePath(sandbox), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(statePath(sandbox), JSON.stringify({ ...state, format: 0 }));

    const status = await sandbox.herd(['status', 'staging']);

    expect(status.code).toBe(2);
    expect(status.err).toContain(`herd: the sandbox's state ${statePath(sandbox)} is of format 0, this herd reads format ${SNAPSHOT_FORMAT}: start over with \`herd sandbox reset\``);
  });

  test('fails when the configuration renamed the app or added an environment, naming the difference', async () => {
    const sandbox = await saved();
    const renamed = new SandboxHarness(resolveConfig({ app: 'shop', environments: [{ name: 'staging', profile: 'small', network: { cidr: '10.20.0.0/16' } }, { name: 'production', profile: 'small', network: { cidr: '10.30.0.0/16' } }] }), sandbox.dir);
    const added = new SandboxHarness(
      resolveConfig({
        app: 'mootube',
        environments: [
          { name: 'testing', profile: 'small', network: { cidr: '10.10.0.0/16' } },
          { name: 'staging', profile: 'small', network: { cidr: '10.20.0.0/16' } },
          { name: 'production', profile: 'small', network: { cidr: '10.30.0.0/16' } },
        ],
      }),
      sandbox.dir,
    );

    const byApp = await renamed.herd(['status', 'staging']);
    const byEnvironments = await added.herd(['status', 'staging']);

    expect(byApp.code).toBe(2);
    expect(byApp.err).toContain('herd: the sandbox was made for app mootube, the configuration is for app shop: start over with `herd sandbox reset`');
    expect(byEnvironments.code).toBe(2);
    expect(byEnvironments.err).toContain('herd: the sandbox was made for environments staging, production, the configuration has testing, staging, production (added: testing): start over with `herd sandbox reset`');
    expect((await sandbox.status('staging')).maintenance.on).toBe(true);
  });

  test('fails while another live command holds the lock, naming it; a dead holder\'s lock is taken over', async () => {
    const sandbox = await saved();
    const before = fs.readFileSync(statePath(sandbox), 'utf8');
    const lock = path.join(sandbox.dir, 'lock');
    fs.writeFileSync(lock, JSON.stringify({ pid: process.ppid, command: 'herd deploy staging ./app' }));

    const refused = await sandbox.herd(['maintenance', 'off', 'staging']);

    expect(refused.code).toBe(1);
    expect(refused.err).toBe(`herd: the sandbox is in use by \`herd deploy staging ./app\` (pid ${process.ppid}): wait for it to end (Ctrl-C detaches a deploy), then run this command again\n`);
    expect(fs.readFileSync(statePath(sandbox), 'utf8')).toBe(before);

    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    fs.writeFileSync(lock, JSON.stringify({ pid: dead, command: 'herd watch staging' }));
    expect((await sandbox.herd(['maintenance', 'off', 'staging'])).code).toBe(0);
    expect((await sandbox.status('staging')).maintenance.on).toBe(false);
    expect(fs.existsSync(lock)).toBe(false);
  });

  test('a detached deploy goes on between commands, by the wall time passed, at most 30 minutes', async () => {
    const sandbox = made();
    expect((await sandbox.herd(['deploy', 'staging', MOOTUBE, '--detach'])).code).toBe(3);
    const started = (await sandbox.open()).now();

    const status = await sandbox.status('staging');
    expect(status.lock).toBeDefined();
    const idle = await sandbox.open();
    sandbox.wall += 5 * 3600_000;
    const caughtUp = await sandbox.open();

    expect(idle.now() - started).toBe(10_000);
    expect(caughtUp.now() - idle.now()).toBe(MAX_CATCH_UP_SECONDS * 1000);
    expect((await sandbox.status('staging')).release).toMatch(/^[0-9a-f]{12}$/);
  });
});
