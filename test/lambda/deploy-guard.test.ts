/** The deploy guard custom resource (`lambda/deploy-guard`), against the fake cloud's DynamoDB and SSM. */
import { acquireLock } from '../../lambda/deploy/lock';
import { startDeploy } from '../../lambda/deploy/advance';
import { applyGuard, GUARD_KEY, parseGuardProperties, type GuardProperties } from '../../lambda/deploy-guard/guard';
import { NO_RELEASE, parameterNames } from '../../lib/names';
import { createWorld } from '../../lib/simulation/world';
import { GUARD_PRINCIPAL } from '../../lib/simulation/cloudformation';
import { checkWorldIam, type IamCheck } from '../support/iam/world-iam';

const names = parameterNames('shop', 'staging');

/** The guard's calls (and the deploy step's) are evaluated against their synthesized roles after each test. */
let iam: IamCheck | undefined;
afterEach(async () => {
  const check = iam;
  iam = undefined;
  await check?.check();
});

function setup() {
  const world = createWorld({ web: 2, worker: 1, serving: 'r1' });
  iam = checkWorldIam(world);
  const clients = world.cloud.clients(GUARD_PRINCIPAL);
  const props = (fingerprint: string): GuardProperties => ({
    tableName: world.env.tableName,
    environment: 'staging',
    fingerprint,
    currentReleaseParameter: names.currentRelease,
    noRelease: NO_RELEASE,
  });
  const accepted = () => world.cloud.table.get(`${GUARD_KEY.pk}\u0000${GUARD_KEY.sk}`)?.fingerprint;
  const lock = async (mode?: 'bake') => {
    const state = startDeploy({ release: 'r2', actor: 'alice', deployId: 'deploy-0007', ...(mode ? { mode } : {}) }, world.env, world.clock);
    await acquireLock(world.cloud.clients(), world.env.tableName, state);
  };
  return { world, clients, props, accepted, lock };
}

describe('the deploy guard', () => {
  test('accepts the fleets of a new stack and remembers them', async () => {
    const { clients, props, accepted } = setup();
    await applyGuard('Create', props('a|ami-1|none'), clients);
    expect(accepted()).toBe('a|ami-1|none');
  });

  test('lets a stack update change the fleets while no deploy runs', async () => {
    const { clients, props, accepted } = setup();
    await applyGuard('Create', props('a|ami-1|r1'), clients);
    await applyGuard('Update', props('b|ami-1|r1'), clients);
    expect(accepted()).toBe('b|ami-1|r1');
  });

  test('fails a stack update that would change the fleets during a deploy, naming the deploy, and changes nothing', async () => {
    const { clients, props, accepted, lock } = setup();
    await applyGuard('Create', props('a|ami-1|r1'), clients);
    await lock();
    await expect(applyGuard('Update', props('b|ami-1|r1'), clients)).rejects.toThrow(
      'herd refused this stack update: deploy deploy-0007 (alice, release r2) has held environment staging since 2026-11-05T10:00:00.000Z, ' +
        'and the update would change its fleets (launch templates, capacity or the release image). CloudFormation rolls back and changes nothing. ' +
        'Wait for the deploy to end (herd watch staging), then run cdk deploy again.',
    );
    expect(accepted()).toBe('a|ami-1|r1');
  });

  test('lets CloudFormation roll the refused update back: the accepted fingerprint passes while the deploy still runs', async () => {
    const { clients, props, lock } = setup();
    await applyGuard('Create', props('a|ami-1|r1'), clients);
    await lock();
    await expect(applyGuard('Update', props('b|ami-1|r1'), clients)).rejects.toThrow('herd refused this stack update');
    // The rollback sends the previous properties again.
    await expect(applyGuard('Update', props('a|ami-1|r1'), clients)).resolves.toMatchObject({ Data: { Fingerprint: 'a|ami-1|r1' } });
  });

  test('does not block a stack update during a bake-only run, which changes no fleet', async () => {
    const { clients, props, accepted, lock } = setup();
    await applyGuard('Create', props('a|ami-1|r1'), clients);
    await lock('bake');
    await applyGuard('Update', props('b|ami-2|r1'), clients);
    expect(accepted()).toBe('b|ami-2|r1');
  });

  test('puts current-release back to "none" when the stack is deleted, so a re-created environment starts empty', async () => {
    const { world, clients, props } = setup();
    await applyGuard('Delete', props('a|ami-1|r1'), clients);
    expect(world.cloud.parameters.get(names.currentRelease)).toBe(NO_RELEASE);
    expect(world.cloud.parameters.get(names.currentImage)).toBe(world.images.r1);
  });

  test('parses its properties, failing on a missing one by name', () => {
    expect(parseGuardProperties({ TableName: 't', Environment: 'e', Fingerprint: 'f', CurrentReleaseParameter: '/p', NoRelease: 'none' }))
      .toEqual({ tableName: 't', environment: 'e', fingerprint: 'f', currentReleaseParameter: '/p', noRelease: 'none' });
    expect(() => parseGuardProperties({ TableName: 't' })).toThrow('ResourceProperties.Environment must be a non-empty string, got undefined');
  });
});
