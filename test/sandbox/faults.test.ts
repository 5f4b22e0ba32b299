/**
 * Rehearsing failures in the sandbox: each fault `herd sandbox fault <kind>` arms acts on
 * the next deploy of the environment, with the outcome the deploy scenarios prove for it.
 */
import { runHerd, testDeps } from '../cli/support/harness';
import { MOOTUBE, SandboxHarness, servedRelease } from './support';

jest.setTimeout(30_000);

describe('herd --sandbox: faults', () => {
  const sandbox = new SandboxHarness();
  afterAll(() => sandbox.remove());
  let a = '';
  let b = '';

  /** Arms `kind` on staging (after lifting any earlier fault). */
  async function arm(kind: string): Promise<void> {
    expect((await sandbox.herd(['sandbox', 'fault', 'clear'])).code).toBe(0);
    const armed = await sandbox.herd(['sandbox', 'fault', kind, '--env', 'staging']);
    expect(armed.code).toBe(0);
    expect((await sandbox.open()).faults.armed.staging).toEqual([kind]);
  }

  test('throttling: the deploy succeeds through a burst of throttled calls', async () => {
    const deploy = await sandbox.herd(['deploy', 'staging', MOOTUBE]);
    expect(deploy.code).toBe(0);
    a = servedRelease(deploy.out, 'staging') ?? '';
    await arm('throttling');

    const throttled = await sandbox.herd(['deploy', 'staging', MOOTUBE, '--label', 'v2']);

    expect(throttled.code).toBe(0);
    b = servedRelease(throttled.out, 'staging') ?? '';
    expect(await sandbox.serving('staging')).toBe(b);
    const [burst] = (await sandbox.open()).faults.active;
    expect(burst).toMatchObject({ kind: 'throttling', env: 'staging', release: b });
    expect(burst?.throttled).toBeGreaterThan(10);
  });

  test('failing-migration: the deploy fails (exit 1), the previous release keeps serving, no maintenance page', async () => {
    await arm('failing-migration');

    const deploy = await sandbox.herd(['deploy', 'staging', a]);

    expect(deploy.code).toBe(1);
    expect(deploy.err).toContain('migration failed');
    expect(await sandbox.serving('staging')).toBe(b);
    expect((await sandbox.status('staging')).maintenance.on).toBe(false);
    expect((await sandbox.status('staging')).lock).toBeUndefined();
  });

  test('fault clear lifts it: the same release deploys', async () => {
    expect((await sandbox.herd(['sandbox', 'fault', 'clear'])).code).toBe(0);
    const faults = await sandbox.herd(['sandbox', 'faults']);
    expect(faults.out).toContain('no fault armed or in effect');

    expect((await sandbox.herd(['deploy', 'staging', a])).code).toBe(0);
    expect(await sandbox.serving('staging')).toBe(a);
  });

  test('unhealthy-release: the new instances never pass the health check; rolled back', async () => {
    await arm('unhealthy-release');

    const deploy = await sandbox.herd(['deploy', 'staging', b]);

    expect(deploy.code).toBe(1);
    expect(await sandbox.serving('staging')).toBe(a);
    const s = await sandbox.open();
    expect(s.environment('staging').world.cloud.healthyServing('herd-staging-web')).toHaveLength(2);
  });

  test('alarm: the 5xx alarm fires during the rollout or the alarm watch after it, and the deploy rolls back', async () => {
    await arm('alarm');

    const deploy = await sandbox.herd(['deploy', 'staging', b]);

    expect(deploy.code).toBe(1);
    expect(await sandbox.serving('staging')).toBe(a);
    const alarm = (await sandbox.open()).environment('staging').world.cloud.alarms.get('herd-staging-target5xx');
    expect(alarm?.history.map((h) => h.state)).toContain('ALARM');
  });

  test('execution-dies: the execution dies mid-rollout, the reaper resumes it to put the previous release back', async () => {
    await arm('execution-dies');

    // Ten minutes later: the 5xx alarm the previous test fired is OK again (else the pre-flight refuses).
    const deploy = await sandbox.herd(['deploy', 'staging', b], 600);

    expect(deploy.code).toBe(1);
    expect(deploy.err).toContain('States.Runtime');
    expect(await sandbox.serving('staging')).toBe(a);
    expect((await sandbox.status('staging')).lock).toBeUndefined();
    const staging = (await sandbox.open()).environment('staging');
    expect(staging.reaped).toContain('resumed');
    expect([...staging.executions.values()].some((x) => x.status === 'FAILED' && x.error === 'States.Runtime')).toBe(true);
  });

  test('no-capacity: one zone has no capacity; the deploy still succeeds in the other; clear gives it back', async () => {
    await arm('no-capacity');

    const deploy = await sandbox.herd(['deploy', 'staging', b]);

    expect(deploy.code).toBe(0);
    expect(await sandbox.serving('staging')).toBe(b);
    expect((await sandbox.open()).environment('staging').world.cloud.noCapacity.size).toBe(1);
    expect((await sandbox.herd(['sandbox', 'faults'])).out).toMatch(/staging\s*│\s*no-capacity\s*│\s*in effect/);
    await sandbox.herd(['sandbox', 'fault', 'clear']);
    expect((await sandbox.open()).environment('staging').world.cloud.noCapacity.size).toBe(0);
  });

  test('failing-bake: the image build fails; nothing changes on the servers', async () => {
    await arm('failing-bake');

    const deploy = await sandbox.herd(['deploy', 'staging', MOOTUBE, '--label', 'v3']);

    expect(deploy.code).toBe(1);
    expect(await sandbox.serving('staging')).toBe(b);
  });

  test('fails when the fault is unknown: the message lists the kinds, nothing is armed', async () => {
    await sandbox.herd(['sandbox', 'fault', 'clear']);

    const run = await sandbox.herd(['sandbox', 'fault', 'meteor']);

    expect(run.code).toBe(2);
    expect(run.err).toContain('herd: unknown fault "meteor": the sandbox knows failing-migration, failing-bake, unhealthy-release, alarm, throttling, no-capacity, execution-dies (herd sandbox faults lists them)');
    expect((await sandbox.open()).faults.armed.staging).toEqual([]);
  });

  test('fails outside the sandbox: the sandbox verbs say to add --sandbox', async () => {
    const run = await runHerd(['sandbox', 'reset'], testDeps({ clients: () => { throw new Error('no AWS call expected'); } }));

    expect(run.code).toBe(2);
    expect(run.err).toBe('herd: herd sandbox reset acts on the local sandbox only: add --sandbox (herd sandbox reset --sandbox), or set HERD_SANDBOX=1; nothing was changed\n');
  });
});
