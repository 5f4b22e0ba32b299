/**
 * The cache AUTH token's rotation function (`lambda/cache-token-rotation/rotation.ts`), its four
 * steps run through the real SDK clients against the fake cloud's Secrets Manager (versions,
 * staging labels) and ElastiCache (the tokens a replication group accepts, `modifying` for
 * minutes after a change): the tokens the group accepts after each step, the secret's labels,
 * re-runs changing nothing, a busy group failing the step for a retry, and a second rotation
 * dropping the oldest token while the current one keeps working.
 */
import { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { rotateCacheToken, ROTATION_STEPS, type RotationStep, type Waiting } from '../../lambda/cache-token-rotation/rotation';
import { VirtualClock } from '../../lib/simulation/clock';
import { FakeCloud } from '../../lib/simulation/fake-cloud';
import { addReplicationGroup, replicationGroup } from '../../lib/simulation/services/elasticache';
import { addSecret, beginRotation, findSecret, versionsOf } from '../../lib/simulation/services/secrets-manager';
import { fakeClient } from '../../lib/simulation/transport';
import { SIMULATED_ACCOUNT, SIMULATED_REGION } from '../../lib/simulation/world';
import { iamCheck, roleByPrefix, worldSettings } from '../support/iam/world-iam';
import { synthesizedTemplates } from '../support/iam/synth';
import { TemplateResolver } from '../support/iam/template-policies';
import { clientConfig, startMoto } from '../support/moto';

const GROUP = 'herd-staging-cache';
const SECRET = 'CacheAuthToken';
const SECRET_ARN = `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${SECRET}-AbCdEf`;
const FIRST = 'FirstToken0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP';
/** ElastiCache's minutes of `modifying` after a token change (the fake's group). */
const MODIFY_SECONDS = 240;

function setup(options: { waitSeconds?: number; principal?: string } = {}) {
  const clock = new VirtualClock();
  const cloud = new FakeCloud({ app: 'shop', env: 'staging', clock, tableName: 'deploys' });
  addSecret(cloud, SECRET, SECRET_ARN, FIRST);
  const group = addReplicationGroup(cloud, GROUP, FIRST, { modifySeconds: MODIFY_SECONDS });
  // The stack made both a day ago.
  clock.set(clock.now() + 86_400_000);
  const by = options.principal ? { principal: options.principal } : {};
  const clients = {
    secretsManager: fakeClient(SecretsManagerClient, cloud, 'secretsManager', by),
    elastiCache: fakeClient(ElastiCacheClient, cloud, 'elastiCache', by),
  };
  const settings = { secretArn: SECRET_ARN, replicationGroupId: GROUP };
  /** An invocation's waiting: virtual time, up to `waitSeconds` (default 10 minutes). */
  const waiting = (): Waiting => ({
    now: () => clock.now(),
    sleep: async (ms) => cloud.advance(ms / 1000),
    deadline: clock.now() + (options.waitSeconds ?? 600) * 1000,
  });
  const step = (Step: RotationStep, token: string) => rotateCacheToken({ Step, SecretId: SECRET_ARN, ClientRequestToken: token }, settings, clients, waiting());
  const tokens = () => [...replicationGroup(cloud, GROUP).tokens];
  const stages = () => Object.fromEntries(versionsOf(findSecret(cloud, SECRET)).filter((v) => v.stages.length > 0).map((v) => [v.id, [...v.stages].sort()]));
  const value = (id: string) => versionsOf(findSecret(cloud, SECRET)).find((v) => v.id === id)?.value;
  const current = () => findSecret(cloud, SECRET).value;
  /** A whole rotation as Secrets Manager runs it: the pending version, then the four steps. */
  const rotate = async (token: string) => {
    beginRotation(cloud, SECRET, token);
    for (const s of ROTATION_STEPS) await step(s, token);
  };
  return { clock, cloud, group, clients, step, tokens, stages, value, current, rotate };
}

const TOKEN_1 = '11111111-1111-4111-8111-111111111111';
const TOKEN_2 = '22222222-2222-4222-8222-222222222222';

describe('one rotation, step by step', () => {
  test('the group accepts the old and the new token from setSecret on; AWSCURRENT moves at finishSecret only', async () => {
    const t = setup();
    const firstVersion = Object.keys(t.stages())[0]!;
    beginRotation(t.cloud, SECRET, TOKEN_1);

    await expect(t.step('createSecret', TOKEN_1)).resolves.toEqual({ step: 'createSecret', did: 'pending token written' });
    const pending = t.value(TOKEN_1)!;
    expect(pending).toMatch(/^[A-Za-z0-9]{64}$/);
    expect(pending).not.toBe(FIRST);
    expect(t.stages()).toEqual({ [firstVersion]: ['AWSCURRENT'], [TOKEN_1]: ['AWSPENDING'] });
    expect(t.tokens()).toEqual([FIRST]);

    await t.step('setSecret', TOKEN_1);
    // ROTATE accepted: the group is modifying and still accepts the current token only.
    expect(t.tokens()).toEqual([FIRST]);
    expect(replicationGroup(t.cloud, GROUP).change).toEqual(expect.objectContaining({ strategy: 'ROTATE', token: pending }));

    // testSecret waits (virtual minutes) for the group to be available again.
    await expect(t.step('testSecret', TOKEN_1)).resolves.toEqual({ step: 'testSecret', did: 'group available with the pending token' });
    expect(t.tokens()).toEqual([FIRST, pending]);
    expect(t.current()).toBe(FIRST);

    await t.step('finishSecret', TOKEN_1);
    expect(t.stages()).toEqual({ [firstVersion]: ['AWSPREVIOUS'], [TOKEN_1]: ['AWSCURRENT', 'AWSPENDING'] });
    expect(t.current()).toBe(pending);
    // The servers' previous token still works until the next rotation.
    expect(t.tokens()).toEqual([FIRST, pending]);
  });

  test('every step run again changes nothing (Secrets Manager retries the whole rotation)', async () => {
    const t = setup();
    beginRotation(t.cloud, SECRET, TOKEN_1);
    await t.step('createSecret', TOKEN_1);
    const pending = t.value(TOKEN_1);
    await expect(t.step('createSecret', TOKEN_1)).resolves.toEqual({ step: 'createSecret', did: 'pending token already written' });
    expect(t.value(TOKEN_1)).toBe(pending);

    await t.step('setSecret', TOKEN_1);
    t.cloud.advance(MODIFY_SECONDS);
    const before = t.cloud.callCounts()['elastiCache:ModifyReplicationGroup'];
    await expect(t.step('setSecret', TOKEN_1)).resolves.toEqual({ step: 'setSecret', did: 'group already accepts the pending token' });
    expect(t.cloud.callCounts()['elastiCache:ModifyReplicationGroup']).toBe(before);
    expect(t.tokens()).toEqual([FIRST, pending]);

    await t.step('testSecret', TOKEN_1);
    await t.step('testSecret', TOKEN_1);
    await t.step('finishSecret', TOKEN_1);
    const labels = t.stages();
    for (const s of ROTATION_STEPS) await expect(t.step(s, TOKEN_1)).resolves.toEqual({ step: s, did: 'version is already current' });
    expect(t.stages()).toEqual(labels);
    expect(t.tokens()).toEqual([FIRST, pending]);
  });

  test('a retry of setSecret while its own ROTATE is still applying waits, and sends no second one', async () => {
    const t = setup();
    beginRotation(t.cloud, SECRET, TOKEN_1);
    await t.step('createSecret', TOKEN_1);
    await t.step('setSecret', TOKEN_1);
    await expect(t.step('setSecret', TOKEN_1)).resolves.toEqual({ step: 'setSecret', did: 'group already accepts the pending token' });
    expect(t.cloud.callCounts()['elastiCache:ModifyReplicationGroup']).toBe(1);
    expect(t.tokens()).toEqual([FIRST, t.value(TOKEN_1)]);
  });
});

describe('a busy group', () => {
  test('setSecret fails (for Secrets Manager to retry) while the group stays busy past the invocation, and changes nothing', async () => {
    const t = setup({ waitSeconds: 60 });
    beginRotation(t.cloud, SECRET, TOKEN_1);
    await t.step('createSecret', TOKEN_1);
    // Another change (a node type's, say) keeps the group modifying for 4 minutes.
    t.group.busy = { status: 'modifying', until: t.clock.now() + MODIFY_SECONDS * 1000 };
    await expect(t.step('setSecret', TOKEN_1)).rejects.toThrow(`replication group ${GROUP} is modifying; Secrets Manager retries the rotation later`);
    expect(t.cloud.callCounts()['elastiCache:ModifyReplicationGroup']).toBeUndefined();
    expect(t.stages()[TOKEN_1]).toEqual(['AWSPENDING']);
    expect(t.tokens()).toEqual([FIRST]);
    // The retry, once the group is available: the ROTATE is sent.
    t.cloud.advance(MODIFY_SECONDS);
    await t.step('setSecret', TOKEN_1);
    t.cloud.advance(MODIFY_SECONDS);
    await t.step('testSecret', TOKEN_1);
    expect(t.tokens()).toEqual([FIRST, t.value(TOKEN_1)]);
  });

  test('a token change under way when the rotation starts: createSecret waits for it before writing the pending token, so setSecret still sends its ROTATE', async () => {
    const t = setup();
    const { ModifyReplicationGroupCommand } = await import('@aws-sdk/client-elasticache');
    await t.clients.elastiCache.send(new ModifyReplicationGroupCommand({ ReplicationGroupId: GROUP, AuthToken: 'ByHandToken0123456789', AuthTokenUpdateStrategy: 'ROTATE', ApplyImmediately: true }));
    await t.rotate(TOKEN_1);
    expect(t.cloud.callCounts()['elastiCache:ModifyReplicationGroup']).toBe(2);
    expect(t.tokens()).toEqual(['ByHandToken0123456789', t.current()]);
  });

  test('ElastiCache refuses a modification while modifying (InvalidReplicationGroupState): the step says to retry', async () => {
    const t = setup();
    beginRotation(t.cloud, SECRET, TOKEN_1);
    await t.step('createSecret', TOKEN_1);
    // A change lands between the function's look and its call.
    t.cloud.faults.push({ api: 'elastiCache:ModifyReplicationGroup', code: 'InvalidReplicationGroupState', message: 'Replication group is not in available state.', times: 1 });
    await expect(t.step('setSecret', TOKEN_1)).rejects.toThrow(/became busy .*Secrets Manager retries the rotation later/);
    await t.step('setSecret', TOKEN_1);
    await t.step('testSecret', TOKEN_1);
    expect(t.tokens()).toEqual([FIRST, t.value(TOKEN_1)]);
  });

  test('testSecret fails when the group is available but never took the token (setSecret did not run)', async () => {
    const t = setup();
    beginRotation(t.cloud, SECRET, TOKEN_1);
    await t.step('createSecret', TOKEN_1);
    t.clock.set(t.clock.now() + 1000);
    await expect(t.step('testSecret', TOKEN_1)).rejects.toThrow(/is available but its token did not change after version 11111111-1111-4111-8111-111111111111 was written/);
    await expect(t.step('finishSecret', TOKEN_1)).resolves.toBeDefined();
  });
});

describe('the next rotation', () => {
  test('ROTATE on a group with two tokens drops the oldest: the current one (the servers\') keeps working throughout', async () => {
    const t = setup();
    await t.rotate(TOKEN_1);
    const second = t.current();
    expect(t.tokens()).toEqual([FIRST, second]);

    beginRotation(t.cloud, SECRET, TOKEN_2);
    await t.step('createSecret', TOKEN_2);
    const third = t.value(TOKEN_2)!;
    await t.step('setSecret', TOKEN_2);
    expect(t.tokens()).toEqual([FIRST, second]);
    await t.step('testSecret', TOKEN_2);
    expect(t.tokens()).toEqual([second, third]);
    await t.step('finishSecret', TOKEN_2);
    expect(t.current()).toBe(third);
    expect(Object.values(t.stages()).map((s) => s.join(',')).sort()).toEqual(['AWSCURRENT,AWSPENDING', 'AWSPREVIOUS']);
    expect(t.stages()[TOKEN_1]).toEqual(['AWSPREVIOUS']);
    // Only the two rotations' ROTATEs were sent: no SET.
    expect(t.cloud.calls.filter((c) => c.api === 'elastiCache:ModifyReplicationGroup')).toHaveLength(2);
  });
});

describe('refusals, before any change', () => {
  test('another secret, an unknown step, a version that is not pending', async () => {
    const t = setup();
    const settings = { secretArn: SECRET_ARN, replicationGroupId: GROUP };
    const wait = { now: () => t.clock.now(), sleep: async () => undefined, deadline: t.clock.now() };
    await expect(rotateCacheToken({ Step: 'createSecret', SecretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:Other-XyZabc', ClientRequestToken: TOKEN_1 }, settings, t.clients, wait))
      .rejects.toThrow(`this function rotates ${SECRET_ARN} only, not "arn:aws:secretsmanager:eu-west-1:123456789012:secret:Other-XyZabc"`);
    await expect(rotateCacheToken({ Step: 'rotate', SecretId: SECRET_ARN, ClientRequestToken: TOKEN_1 }, settings, t.clients, wait)).rejects.toThrow('unknown step "rotate"');
    await expect(t.step('createSecret', TOKEN_1)).rejects.toThrow(`version ${TOKEN_1} of ${SECRET_ARN} has no staging label`);
    expect(t.cloud.calls.filter((c) => !c.api.endsWith(':DescribeSecret'))).toEqual([]);
  });

  test('a pending value ElastiCache would refuse is not sent', async () => {
    const t = setup();
    beginRotation(t.cloud, SECRET, TOKEN_1);
    await t.clients.secretsManager.send(new (await import('@aws-sdk/client-secrets-manager')).PutSecretValueCommand({ SecretId: SECRET_ARN, ClientRequestToken: TOKEN_1, SecretString: 'has a / slash and @ at sign', VersionStages: ['AWSPENDING'] }));
    await expect(t.step('setSecret', TOKEN_1)).rejects.toThrow(/the pending token \(27 characters\) is not a valid ElastiCache AUTH token/);
    expect(t.cloud.callCounts()['elastiCache:ModifyReplicationGroup']).toBeUndefined();
  });

  test('a pending version that repeats the current token is not sent (it would rotate nothing)', async () => {
    const t = setup();
    beginRotation(t.cloud, SECRET, TOKEN_1);
    await t.clients.secretsManager.send(new (await import('@aws-sdk/client-secrets-manager')).PutSecretValueCommand({ SecretId: SECRET_ARN, ClientRequestToken: TOKEN_1, SecretString: FIRST, VersionStages: ['AWSPENDING'] }));
    await expect(t.step('setSecret', TOKEN_1)).rejects.toThrow(`version ${TOKEN_1} holds the current token, not a new one`);
    expect(t.cloud.callCounts()['elastiCache:ModifyReplicationGroup']).toBeUndefined();
    expect(t.tokens()).toEqual([FIRST]);
  });
});

describe('the fake ElastiCache, as strict as the API', () => {
  test('SET only after ROTATE and with the last token; DELETE, bad tokens and a busy group refused', async () => {
    const t = setup();
    const { ModifyReplicationGroupCommand } = await import('@aws-sdk/client-elasticache');
    const modify = (AuthToken: string | undefined, AuthTokenUpdateStrategy?: 'ROTATE' | 'SET' | 'DELETE') =>
      t.clients.elastiCache.send(new ModifyReplicationGroupCommand({ ReplicationGroupId: GROUP, AuthToken, AuthTokenUpdateStrategy, ApplyImmediately: true }));
    await expect(modify(FIRST, 'SET')).rejects.toMatchObject({ name: 'InvalidParameterCombinationException' });
    await expect(modify('short', 'ROTATE')).rejects.toMatchObject({ name: 'InvalidParameterValueException' });
    await expect(modify('SixteenCharacters@', 'ROTATE')).rejects.toMatchObject({ name: 'InvalidParameterValueException' });
    await expect(modify(FIRST, 'DELETE')).rejects.toMatchObject({ name: 'InvalidParameterCombinationException' });
    await expect(modify(undefined, 'ROTATE')).rejects.toMatchObject({ name: 'InvalidParameterCombinationException' });
    await modify('SecondToken0123456789');
    await expect(modify('ThirdToken0123456789', 'ROTATE')).rejects.toMatchObject({ name: 'InvalidReplicationGroupStateFault' });
    t.cloud.advance(MODIFY_SECONDS);
    expect(t.tokens()).toEqual([FIRST, 'SecondToken0123456789']);
    await expect(modify(FIRST, 'SET')).rejects.toMatchObject({ name: 'InvalidParameterValueException' });
    await modify('SecondToken0123456789', 'SET');
    t.cloud.advance(MODIFY_SECONDS);
    expect(t.tokens()).toEqual(['SecondToken0123456789']);
    await expect(t.clients.elastiCache.send(new ModifyReplicationGroupCommand({ ReplicationGroupId: 'nope', AuthToken: FIRST, ApplyImmediately: true }))).rejects.toMatchObject({ name: 'ReplicationGroupNotFoundFault' });
  });
});

describe('under the function\'s synthesized IAM policy', () => {
  /** The rotation function's role in the stack of a `small` environment, its secret and group named as the fake's. */
  function rotationPrincipal() {
    const template = synthesizedTemplates(worldSettings('shop', 'staging'))['staging']!.environment;
    const idOf = (type: string, description?: string) => Object.entries(template.Resources).find(([, r]) => r.Type === type && (description === undefined || r.Properties?.Description === description))![0];
    const known = new Map([
      [JSON.stringify({ Ref: idOf('AWS::SecretsManager::Secret', 'AUTH token of the herd cache') }), SECRET_ARN],
      [JSON.stringify({ Ref: idOf('AWS::ElastiCache::ReplicationGroup') }), GROUP],
    ]);
    const resolver = new TemplateResolver(template, { account: SIMULATED_ACCOUNT, region: SIMULATED_REGION, stackName: 'herd-staging', known });
    return roleByPrefix(resolver.roles(), 'CacheTokenRotationFunctionServiceRole', 'cache-token-rotation');
  }

  test('two whole rotations make only calls the policy allows; another group\'s or secret\'s would be denied', async () => {
    const t = setup({ principal: 'cache-token-rotation' });
    const principal = rotationPrincipal();
    const check = iamCheck(new Map([[principal.name, principal]]), { account: SIMULATED_ACCOUNT, region: SIMULATED_REGION, cloud: t.cloud, roleOfInstanceProfile: () => undefined });
    t.cloud.authorizer = (call) => check.record(call);
    await t.rotate(TOKEN_1);
    await t.rotate(TOKEN_2);
    await check.check();
    expect(new Set(check.calls.map((c) => `${c.call.service}:${c.call.api}`))).toEqual(new Set([
      'secretsManager:DescribeSecret', 'secretsManager:GetSecretValue', 'secretsManager:GetRandomPassword', 'secretsManager:PutSecretValue',
      'secretsManager:UpdateSecretVersionStage', 'elastiCache:DescribeReplicationGroups', 'elastiCache:ModifyReplicationGroup',
    ]));
    // The same calls on another group or secret of the account.
    check.calls.length = 0;
    const other = { principal: principal.name, input: {} };
    check.record({ ...other, service: 'elastiCache', api: 'ModifyReplicationGroup', input: { ReplicationGroupId: 'another-app-cache', AuthToken: 'x' } });
    check.record({ ...other, service: 'secretsManager', api: 'PutSecretValue', input: { SecretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:OtherToken-XyZabc' } });
    check.record({ ...other, service: 'secretsManager', api: 'UpdateSecretVersionStage', input: { SecretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:OtherToken-XyZabc' } });
    expect((await check.denials()).map((d) => `${d.request.action} ${d.request.resource}`)).toEqual([
      'elasticache:ModifyReplicationGroup arn:aws:elasticache:eu-west-1:123456789012:replicationgroup:another-app-cache',
      'secretsmanager:PutSecretValue arn:aws:secretsmanager:eu-west-1:123456789012:secret:OtherToken-XyZabc',
      'secretsmanager:UpdateSecretVersionStage arn:aws:secretsmanager:eu-west-1:123456789012:secret:OtherToken-XyZabc',
    ]);
  });
});

describe('the fake Secrets Manager\'s versions and labels, against moto\'s', () => {
  const moto = startMoto();

  /** The same sequence of a rotation's Secrets Manager calls, its outcomes (labels by version, error names). */
  async function sequence(sm: SecretsManagerClient): Promise<unknown[]> {
    const c = await import('@aws-sdk/client-secrets-manager');
    const out: unknown[] = [];
    const attempt = async (f: () => Promise<unknown>) => {
      try {
        await f();
        return 'ok';
      } catch (err) {
        return (err as Error).name;
      }
    };
    const created = await sm.send(new c.CreateSecretCommand({ Name: 'token', SecretString: FIRST, ClientRequestToken: '00000000-0000-4000-8000-000000000000' }));
    const labels = async () => {
      const d = await sm.send(new c.DescribeSecretCommand({ SecretId: created.ARN }));
      return Object.fromEntries(Object.entries(d.VersionIdsToStages ?? {}).map(([id, stages]) => [id, [...stages].sort()]));
    };
    out.push(await attempt(() => sm.send(new c.PutSecretValueCommand({ SecretId: created.ARN, ClientRequestToken: TOKEN_1, SecretString: 'SecondToken0123456789', VersionStages: ['AWSPENDING'] }))));
    out.push(await labels());
    // The same version again: ignored.
    out.push(await attempt(() => sm.send(new c.PutSecretValueCommand({ SecretId: created.ARN, ClientRequestToken: TOKEN_1, SecretString: 'SecondToken0123456789', VersionStages: ['AWSPENDING'] }))));
    out.push((await sm.send(new c.GetSecretValueCommand({ SecretId: created.ARN, VersionId: TOKEN_1, VersionStage: 'AWSPENDING' }))).SecretString);
    out.push(await attempt(() => sm.send(new c.GetSecretValueCommand({ SecretId: created.ARN, VersionId: TOKEN_1, VersionStage: 'AWSCURRENT' }))));
    // AWSCURRENT moves only when told which version it leaves; AWSPREVIOUS follows it.
    out.push(await attempt(() => sm.send(new c.UpdateSecretVersionStageCommand({ SecretId: created.ARN, VersionStage: 'AWSCURRENT', MoveToVersionId: TOKEN_1 }))));
    out.push(await labels());
    out.push(await attempt(() => sm.send(new c.UpdateSecretVersionStageCommand({ SecretId: created.ARN, VersionStage: 'AWSCURRENT', MoveToVersionId: TOKEN_1, RemoveFromVersionId: created.VersionId }))));
    out.push(await labels());
    // By its label: moto's GetSecretValue without one still answers the first version's value here.
    out.push((await sm.send(new c.GetSecretValueCommand({ SecretId: created.ARN, VersionStage: 'AWSCURRENT' }))).SecretString);
    const random = (await sm.send(new c.GetRandomPasswordCommand({ PasswordLength: 64, ExcludePunctuation: true, IncludeSpace: false, RequireEachIncludedType: true }))).RandomPassword ?? '';
    out.push([random.length, /^[A-Za-z0-9]+$/.test(random), /[A-Z]/.test(random) && /[a-z]/.test(random) && /[0-9]/.test(random)]);
    return out;
  }

  test('PutSecretValue with a stage, idempotent version ids, UpdateSecretVersionStage and GetRandomPassword answer as moto does', async () => {
    const server = await moto.ready;
    const fake = setup().clients.secretsManager;
    const real = new SecretsManagerClient(clientConfig(server));
    const expected = await sequence(real);
    expect(await sequence(fake)).toEqual(expected);
    // What moto answered, spelled out.
    expect(expected).toEqual([
      'ok',
      { '00000000-0000-4000-8000-000000000000': ['AWSCURRENT'], [TOKEN_1]: ['AWSPENDING'] },
      'ok',
      'SecondToken0123456789',
      'InvalidRequestException',
      'InvalidParameterException',
      { '00000000-0000-4000-8000-000000000000': ['AWSCURRENT'], [TOKEN_1]: ['AWSPENDING'] },
      'ok',
      { '00000000-0000-4000-8000-000000000000': ['AWSPREVIOUS'], [TOKEN_1]: ['AWSCURRENT', 'AWSPENDING'] },
      'SecondToken0123456789',
      [64, true, true],
    ]);
  });

  test('where moto is laxer than the API reference, the fake is not: a version\'s value never changes', async () => {
    // PutSecretValue: "If a version with this value already exists and that version's SecretString
    // … values are different from those in the request, then the request fails" (moto overwrites it).
    const t = setup();
    const { PutSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
    const put = (SecretString: string) => t.clients.secretsManager.send(new PutSecretValueCommand({ SecretId: SECRET_ARN, ClientRequestToken: TOKEN_1, SecretString, VersionStages: ['AWSPENDING'] }));
    await put('SecondToken0123456789');
    await expect(put('AnotherValue0123456789')).rejects.toMatchObject({ name: 'ResourceExistsException' });
    expect(t.value(TOKEN_1)).toBe('SecondToken0123456789');
  });
});
