/**
 * Every verb in the sandbox (`herd --sandbox`), each command loading the state the last one
 * saved: a deploy to a freshly deployed staging serves the release, and the operator's
 * other verbs read and change that same simulated environment.
 */
import { MOOTUBE, SandboxHarness, servedRelease } from './support';

jest.setTimeout(30_000);

/** The deploy id a detached deploy names. */
function deployIdOf(out: string): string {
  const id = /deploy (\S+) started on/.exec(out)?.[1];
  if (!id) throw new Error(`no deploy id in: ${out}`);
  return id;
}

describe('herd --sandbox: the verbs', () => {
  const sandbox = new SandboxHarness();
  afterAll(() => sandbox.remove());
  let first = '';
  let second = '';

  test('deploy to the fresh staging serves the release; status, in the next command, shows it', async () => {
    expect(await sandbox.serving('staging')).toBe('none');

    const deploy = await sandbox.herd(['deploy', 'staging', MOOTUBE]);

    expect(deploy.code).toBe(0);
    first = servedRelease(deploy.out, 'staging') ?? '';
    expect(first).toMatch(/^[0-9a-f]{12}$/);
    expect(await sandbox.serving('staging')).toBe(first);
    expect(await sandbox.serving('production')).toBe('none');
    const s = await sandbox.open();
    expect(s.environment('staging').world.cloud.healthyServing('herd-staging-web')).toHaveLength(2);
  });

  test('history lists the deploy, releases the release and where it serves', async () => {
    const history = await sandbox.herd(['history', 'staging', '--json']);
    expect(history.code).toBe(0);
    expect(JSON.parse(history.out)).toEqual(expect.arrayContaining([expect.objectContaining({ release: first, status: 'succeeded' })]));

    const releases = await sandbox.herd(['releases', 'staging', '--json']);
    expect(releases.code).toBe(0);
    expect(releases.out).toContain(first);
    expect(JSON.stringify(JSON.parse(releases.out))).toMatch(new RegExp(`"release":"${first}"[^}]*"servingOn":\\["staging"\\]`));
  });

  test('logs reads the fleet\'s boot lines, each with its instance; doctor finds every check passing', async () => {
    const logs = await sandbox.herd(['logs', 'staging', 'boot', '--since', '1d']);
    expect(logs.code).toBe(0);
    expect(logs.out).toMatch(/^\S+Z i-[0-9a-f]{17} boot \| herd-boot: configuring mootube\/staging web on i-/m);
    expect(logs.out).toMatch(/^\S+Z i-[0-9a-f]{17} boot \| herd-boot: configuring mootube\/staging worker on i-/m);

    const doctor = await sandbox.herd(['doctor', 'staging']);
    expect(doctor.code).toBe(0);
    expect(doctor.out).not.toMatch(/^[✖!]/m);
    expect(doctor.out).toMatch(new RegExp(`^✔ release: release ${first}, image ami-\\S+ available$`, 'm'));
    expect(doctor.out).toMatch(/^✔ configuration: herd-staging was deployed from the local configuration/m);
  });

  test('config sets a setting where boot reads it, list shows herd\'s own beside it, restart rolls fresh workers onto the same release', async () => {
    const set = await sandbox.herd(['config', 'staging', 'set', 'FEATURE_CHECKOUT=on']);
    expect(set.code).toBe(0);
    const list = await sandbox.herd(['config', 'staging', 'list', '--json']);
    expect(list.code).toBe(0);
    expect(list.out).toContain('"FEATURE_CHECKOUT"');
    expect(list.out).toContain('"DATABASE_HOST"');
    expect((await sandbox.herd(['config', 'staging', 'set', 'PORT=1'])).code).toBe(2);

    const workersBefore = (await sandbox.open()).environment('staging').world.cloud.groups.get('herd-staging-worker')?.instances.map((i) => i.id);
    const restart = await sandbox.herd(['restart', 'staging', '--role', 'worker']);
    expect(restart.code).toBe(0);
    const cloud = (await sandbox.open()).environment('staging').world.cloud;
    const workersAfter = cloud.groups.get('herd-staging-worker')?.instances.filter((i) => i.lifecycle === 'InService').map((i) => i.id) ?? [];
    expect(workersAfter.length).toBeGreaterThan(0);
    expect(workersAfter.filter((id) => workersBefore?.includes(id))).toEqual([]);
    expect(await sandbox.serving('staging')).toBe(first);
  });

  test('run runs a one-off command on a fresh instance and terminates it; console says the sandbox has no shell to open', async () => {
    const run = await sandbox.herd(['run', 'staging', '--', 'python', 'manage.py', 'check']);
    expect(run.code).toBe(0);
    const id = /instance (i-[0-9a-f]{17}) runs release/.exec(run.out)?.[1];
    expect(id).toBeDefined();
    const instance = (await sandbox.open()).environment('staging').world.cloud.instances.get(id ?? '');
    expect(['shutting-down', 'terminated']).toContain(instance?.state);

    const console = await sandbox.herd(['console', 'staging']);
    expect(console.code).toBe(2);
    expect(console.err).toContain("herd console opens a shell on a real instance through Session Manager, and the sandbox's instances are simulated");
  });

  test('plan predicts a deploy of staging as it is', async () => {
    const plan = await sandbox.herd(['plan', 'staging']);
    expect(plan.code).toBe(0);
    expect(plan.out).toContain('pre-flight: ok');
  });

  test('a second release, then rollback: the first serves again', async () => {
    const deploy = await sandbox.herd(['deploy', 'staging', MOOTUBE, '--label', 'v2']);
    expect(deploy.code).toBe(0);
    second = servedRelease(deploy.out, 'staging') ?? '';
    expect(second).toMatch(/^v2-/);
    expect(await sandbox.serving('staging')).toBe(second);

    const rollback = await sandbox.herd(['rollback', 'staging']);

    expect(rollback.code).toBe(0);
    expect(await sandbox.serving('staging')).toBe(first);
  });

  test('maintenance on, then off: the page is up, then down', async () => {
    expect((await sandbox.herd(['maintenance', 'on', 'staging'])).code).toBe(0);
    expect((await sandbox.status('staging')).maintenance.on).toBe(true);

    expect((await sandbox.herd(['maintenance', 'off', 'staging'])).code).toBe(0);
    expect((await sandbox.status('staging')).maintenance.on).toBe(false);
  });

  test('maintenance rotate-bypass: the stored value changes and the bypass rule accepts only it, in the state the next command loads', async () => {
    const bypass = async () => {
      const env = (await sandbox.open()).environments.get('staging')!;
      const cloud = env.world.cloud;
      const stored = [...cloud.secrets.values()].find((x) => x.arn === env.bypassSecretArn)!.value;
      const rule = cloud.listeners.get(env.world.env.loadBalancer.listenerArn)!.find((r) => r.priority === 1)!;
      return { stored, accepted: rule.conditions[0]!.HttpHeaderConfig!.Values };
    };
    const before = await bypass();
    expect(before.accepted).toEqual([before.stored]);
    const run = await sandbox.herd(['maintenance', 'rotate-bypass', 'staging']);
    expect(run.code).toBe(0);
    expect(run.err).not.toContain('herd:');
    const after = await bypass();
    expect(after.stored).not.toBe(before.stored);
    expect(after.accepted).toEqual([after.stored]);
    expect(run.out).not.toContain(after.stored);
  });

  test('autoscaling suspend, then resume: the groups\' processes are suspended, then not', async () => {
    expect((await sandbox.herd(['autoscaling', 'suspend', 'staging', 'Launch'])).code).toBe(0);
    expect((await sandbox.status('staging')).groups.map((g) => g.suspended)).toEqual([['Launch'], ['Launch']]);

    expect((await sandbox.herd(['autoscaling', 'resume', 'staging'])).code).toBe(0);
    expect((await sandbox.status('staging')).groups.map((g) => g.suspended)).toEqual([[], []]);
  });

  test('deploy --detach returns while it runs; time passes between commands; watch follows it to the end', async () => {
    const detached = await sandbox.herd(['deploy', 'staging', second, '--detach']);
    expect(detached.code).toBe(3);
    expect((await sandbox.status('staging')).lock?.deployId).toBe(deployIdOf(detached.out));

    const watch = await sandbox.herd(['watch', 'staging'], 60);

    expect(watch.code).toBe(0);
    expect(watch.out).toContain(`release ${second} serves on staging`);
    expect((await sandbox.status('staging')).lock).toBeUndefined();
  });

  test('abort of a detached deploy: the previous release keeps serving, the lock is released', async () => {
    const detached = await sandbox.herd(['deploy', 'staging', first, '--detach']);
    expect(detached.code).toBe(3);

    const abort = await sandbox.herd(['abort', 'staging'], 30);
    expect(abort.code).toBe(0);
    const watch = await sandbox.herd(['watch', 'staging', deployIdOf(detached.out)]);

    expect(watch.code).not.toBe(0);
    expect(await sandbox.serving('staging')).toBe(second);
    expect((await sandbox.status('staging')).lock).toBeUndefined();
  });

  test('unlock breaks the lock a dead deploy left (its execution stopped and nobody resumed it)', async () => {
    const detached = await sandbox.herd(['deploy', 'staging', first, '--detach']);
    expect(detached).toMatchObject({ code: 3 });
    const id = deployIdOf(detached.out);
    // Its second advance, a few seconds in, takes the lock.
    expect((await sandbox.status('staging')).lock?.deployId).toBe(id);
    await sandbox.tamper(async (s) => {
      const staging = s.environment('staging');
      const x = [...staging.executions.values()].find((e) => e.name === id);
      if (!x) throw new Error(`no execution ${id}`);
      // Ended by hand, and the reaper never ran (as when it gave up): the lock stays.
      x.status = 'ABORTED';
      x.stopDate = new Date(staging.world.clock.now());
      await s.advance(600);
    });
    expect((await sandbox.status('staging')).lock?.deployId).toBe(id);

    const unlock = await sandbox.herd(['unlock', 'staging', '--deploy', id]);

    expect(unlock.code).toBe(0);
    expect((await sandbox.status('staging')).lock).toBeUndefined();
  });

  test('fails to promote: not modelled in the sandbox, nothing changes', async () => {
    const run = await sandbox.herd(['promote', 'staging', 'production']);

    expect(run.code).toBe(2);
    expect(run.err).toContain('herd: promote is not modelled in the sandbox (each environment is simulated apart, so production cannot use staging\'s image); deploy the same app to production instead: herd deploy production <path> --sandbox; nothing was changed');
    expect(await sandbox.serving('production')).toBe('none');
  });

  test('reset starts over: staging is freshly deployed again', async () => {
    const reset = await sandbox.herd(['sandbox', 'reset']);
    expect(reset.code).toBe(0);
    expect(await sandbox.serving('staging')).toBe('none');
  });
});
