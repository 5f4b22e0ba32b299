/**
 * Wire level: the deploy lock and history (`lambda/deploy/lock.ts`, and the `lock.acquire`
 * step of `advance.ts`) against DynamoDB as moto implements it: conditional Put/Delete with
 * expression attribute values, consistent GetItem, Query on the history partition.
 *
 * Every DynamoDB call the lock and history make is supported by moto; nothing is faked here.
 * The lock's pre-flight reads the environment's groups (they exist in moto, empty, as the
 * stack leaves them before a first release), its rollback alarms (none in this environment)
 * the listener's rules (whose maintenance page is up) and the release's artifact (uploaded), then records the deploy as running.
 */
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { advance } from '../../lambda/deploy/advance';
import { DeployLockedError } from '../../lambda/deploy/errors';
import { LOCK_KEY, acquireLock, breakLock, historyItem, historyKey, lockedMessage, readLock, releaseLock, writeHistory } from '../../lambda/deploy/lock';
import { startMoto } from '../support/moto';
import { baseImageId, createArtifactsBucket, createDeployTable, createGroup, createLaunchTemplate, createLoadBalancer, createNetwork, createNotificationTopic, destroyClients, wireClients, type WireClients } from './cloud';
import { ManualClock, advanceContext, deployEnvironment, deployState } from './fixtures';

describe('wire: deploy lock and history on DynamoDB (moto)', () => {
  const moto = startMoto();
  let clients: WireClients;
  let env = deployEnvironment({ tableName: 'herd-staging-deploys' });

  beforeAll(async () => {
    clients = wireClients(await moto.ready);
  });
  afterAll(() => destroyClients(clients));
  beforeEach(async () => {
    await moto.server().reset();
    await createDeployTable(clients, env.tableName);
    const network = await createNetwork(clients);
    // The pre-flight records whose maintenance page is up: it reads the listener's rules.
    const lb = await createLoadBalancer(clients, network, 'herd-staging');
    env = deployEnvironment({ tableName: 'herd-staging-deploys', listenerArn: lb.listenerArn });
    const image = await baseImageId(clients);
    for (const fleet of [env.fleets.web, env.fleets.worker].filter((f) => f !== undefined)) {
      const lt = await createLaunchTemplate(clients, fleet.autoScalingGroupName, image, network.securityGroupId);
      await createGroup(clients, network, fleet.autoScalingGroupName, lt, { min: 0, max: 2, desired: 0 });
    }
    // What the pre-flight reads besides: the release's artifact, and the topic the start is told on.
    await createArtifactsBucket(clients, env.artifacts.bucket, ['r2']);
    await createNotificationTopic(clients, 'herd-staging-notifications');
  });

  test('the lock step takes the lock and writes a running history item', async () => {
    const clock = new ManualClock();
    const ctx = advanceContext(clients, env, clock);
    const state = deployState(ctx, { deployId: 'deploy-0001', release: 'r2', actor: 'alice' });

    const locked = await advance(state, ctx);
    expect(locked.step).toBe('lock.preflight');
    const next = await advance(locked, ctx);
    expect(next.failure).toBeUndefined();
    expect(next.step).toBe('lock.notify');

    const raw = await clients.dynamodbRaw.send(
      new GetItemCommand({ TableName: env.tableName, Key: { pk: { S: 'LOCK' }, sk: { S: 'LOCK' } }, ConsistentRead: true }),
    );
    expect(raw.Item).toEqual({
      pk: { S: 'LOCK' },
      sk: { S: 'LOCK' },
      deployId: { S: 'deploy-0001' },
      actor: { S: 'alice' },
      release: { S: 'r2' },
      since: { S: '2026-11-05T10:00:00.000Z' },
    });
    const history = await clients.dynamodb.send(
      new QueryCommand({ TableName: env.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'DEPLOY' } }),
    );
    expect(history.Items).toEqual([
      expect.objectContaining({ ...historyKey(state), deployId: 'deploy-0001', release: 'r2', actor: 'alice', status: 'running', strategy: 'rolling' }),
    ]);
  });

  test('the deploy holding the lock may take it again (a retried step)', async () => {
    const ctx = advanceContext(clients, env);
    const state = deployState(ctx, { deployId: 'deploy-0001' });
    await acquireLock(clients, env.tableName, state);
    await acquireLock(clients, env.tableName, state);
    expect(await readLock(clients, env.tableName)).toMatchObject({ deployId: 'deploy-0001', actor: 'alice', release: 'r2', since: '2026-11-05T10:00:00.000Z' });
  });

  test('fails when a second deploy asks for the lock, naming the holder and since when', async () => {
    const clock = new ManualClock();
    const ctx = advanceContext(clients, env, clock);
    await advance(await advance(deployState(ctx, { deployId: 'deploy-0001', actor: 'alice', release: 'r2' }), ctx), ctx);
    clock.advance(600);
    const second = deployState(ctx, { deployId: 'deploy-0002', actor: 'bob', release: 'r3' });

    const expected =
      'environment staging is locked by deploy deploy-0001 (alice, release r2) since 2026-11-05T10:00:00.000Z; ' +
      'if that deploy is no longer running, break the lock with `herd unlock staging --deploy deploy-0001`';
    // Through the dispatcher (what Step Functions sees) and through the helper.
    await expect(advance(second, ctx)).rejects.toThrow(new DeployLockedError(expected));
    await expect(acquireLock(clients, env.tableName, second)).rejects.toThrow(expected);
    expect(lockedMessage('staging', { deployId: 'deploy-0001', actor: 'alice', release: 'r2', since: '2026-11-05T10:00:00.000Z' })).toBe(expected);

    // The refusal changed nothing: the first deploy still holds the lock, and the second wrote no history.
    expect((await readLock(clients, env.tableName))?.deployId).toBe('deploy-0001');
    const history = await clients.dynamodb.send(
      new QueryCommand({ TableName: env.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'DEPLOY' } }),
    );
    expect((history.Items ?? []).map((i) => i.deployId)).toEqual(['deploy-0001']);
  });

  test('release is conditional: another deploy cannot release it, the holder can, twice', async () => {
    const ctx = advanceContext(clients, env);
    await acquireLock(clients, env.tableName, deployState(ctx, { deployId: 'deploy-0001' }));

    await releaseLock(clients, env.tableName, 'deploy-0002');
    expect((await readLock(clients, env.tableName))?.deployId).toBe('deploy-0001');

    await releaseLock(clients, env.tableName, 'deploy-0001');
    expect(await readLock(clients, env.tableName)).toBeUndefined();
    await releaseLock(clients, env.tableName, 'deploy-0001');

    // Free again: the next deploy gets it.
    await acquireLock(clients, env.tableName, deployState(ctx, { deployId: 'deploy-0002' }));
    expect((await readLock(clients, env.tableName))?.deployId).toBe('deploy-0002');
  });

  test('breakLock removes a stale lock held by the named deploy and returns it', async () => {
    const ctx = advanceContext(clients, env);
    await acquireLock(clients, env.tableName, deployState(ctx, { deployId: 'deploy-0001', actor: 'ci' }));
    const holder = await breakLock(clients, env.tableName, 'staging', 'deploy-0001');
    expect(holder).toMatchObject({ deployId: 'deploy-0001', actor: 'ci', release: 'r2', since: '2026-11-05T10:00:00.000Z' });
    const raw = await clients.dynamodbRaw.send(new GetItemCommand({ TableName: env.tableName, Key: { pk: { S: LOCK_KEY.pk }, sk: { S: LOCK_KEY.sk } } }));
    expect(raw.Item).toBeUndefined();
  });

  test('fails when breaking a lock that another deploy holds, and changes nothing', async () => {
    const ctx = advanceContext(clients, env);
    await acquireLock(clients, env.tableName, deployState(ctx, { deployId: 'deploy-0002' }));
    await expect(breakLock(clients, env.tableName, 'staging', 'deploy-0001')).rejects.toThrow(
      'environment staging is locked by deploy deploy-0002, not deploy-0001; nothing was changed',
    );
    expect((await readLock(clients, env.tableName))?.deployId).toBe('deploy-0002');
  });

  test('fails when breaking the lock of an environment that is not locked', async () => {
    await expect(breakLock(clients, env.tableName, 'staging', 'deploy-0001')).rejects.toThrow('environment staging is not locked');
  });

  test('history items are overwritten per deploy and listed newest first', async () => {
    const clock = new ManualClock();
    const ctx = advanceContext(clients, env, clock);
    const first = deployState(ctx, { deployId: 'deploy-0001', release: 'r1' });
    clock.advance(3600);
    const second = deployState(ctx, { deployId: 'deploy-0002', release: 'r2' });
    first.failure = { phase: 'bake', step: 'bake.waitBuilder', cause: 'bake failed on builder i-1 (exit 1): boom', at: clock.now() };
    first.warnings.push('retention stopped: x');

    await writeHistory(clients, env.tableName, historyItem(first, clock.now(), 'running'));
    await writeHistory(clients, env.tableName, historyItem(first, clock.now(), 'failed'));
    clock.advance(600);
    await writeHistory(clients, env.tableName, historyItem(second, clock.now(), 'succeeded'));

    const res = await clients.dynamodb.send(
      new QueryCommand({
        TableName: env.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': 'DEPLOY' },
        ScanIndexForward: false,
      }),
    );
    const items = res.Items ?? [];
    expect(items.map((i) => [i.deployId, i.status])).toEqual([
      ['deploy-0002', 'succeeded'],
      ['deploy-0001', 'failed'],
    ]);
    expect(items[1]).toMatchObject({
      sk: '2026-11-05T10:00:00.000Z#deploy-0001',
      release: 'r1',
      error: 'bake failed on builder i-1 (exit 1): boom',
      failedPhase: 'bake',
      warnings: ['retention stopped: x'],
      endedAt: '2026-11-05T11:00:00.000Z',
    });
    expect(items[0]).toMatchObject({ sk: '2026-11-05T11:00:00.000Z#deploy-0002', endedAt: '2026-11-05T11:10:00.000Z' });
    expect(items[0]).not.toHaveProperty('error');
  });
});
