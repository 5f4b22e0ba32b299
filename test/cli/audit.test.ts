/**
 * Who did what: the actor of every mutating verb is the caller's AWS identity (STS), and
 * the operator's verbs (maintenance, autoscaling, unlock) are recorded in the deploy table
 * and listed by `herd history` next to the deploys, against the simulated environment.
 */
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { actorOf, cachedActor, shortIdentity, type AwsClients } from '../../lib/cli/deps';
import { recordOperatorAction } from '../../lib/cli/audit';
import { readHistoryEntries } from '../../lib/cli/history';
import { FakeAwsError } from '../../lib/simulation/errors';
import { runHerd, testDeps } from './support/harness';
import { SIMULATED_ACTOR, SimulatedEnvironment } from './support/simulated';

function setup(options: { actorLabel?: string } = {}) {
  const sim = new SimulatedEnvironment({ web: 2, worker: 1, serving: 'r1' });
  const deps = () =>
    testDeps({
      clients: () => sim.clients(),
      now: () => sim.world.clock.now(),
      sleep: () => sim.sleep(),
      ...(options.actorLabel ? { actorLabel: options.actorLabel } : {}),
    });
  return { sim, deps };
}

/** A deploy's history item as the deploy step writes it. */
function deployItem(id: string, startedAt: string, actor = 'bob (arn:aws:iam::123456789012:user/bob)') {
  return {
    pk: 'DEPLOY', sk: `${startedAt}#${id}`, deployId: id, release: `rel-${id}`, strategy: 'rolling', migrationOrder: 'before', actor, status: 'succeeded',
    startedAt, endedAt: startedAt.replace(/:00\.000Z$/, ':30.000Z'), phases: [{ phase: 'lock', startedAt, endedAt: startedAt, seconds: 2 }],
  };
}

describe('the actor is the caller\'s AWS identity', () => {
  test('an IAM user, a user with a path, an assumed role (SSO too), a federated user and the root read short, with the ARN', () => {
    expect(actorOf('arn:aws:iam::123456789012:user/alice')).toBe('alice (arn:aws:iam::123456789012:user/alice)');
    expect(shortIdentity('arn:aws:iam::123456789012:user/team/ops/alice')).toBe('alice');
    expect(shortIdentity('arn:aws:sts::123456789012:assumed-role/deployer/gha-4711')).toBe('deployer/gha-4711');
    expect(shortIdentity('arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/alice@example.com')).toBe('AWSReservedSSO_Admin_0123456789abcdef/alice@example.com');
    expect(shortIdentity('arn:aws-us-gov:sts::123456789012:federated-user/carol')).toBe('carol');
    expect(actorOf('arn:aws:iam::123456789012:root')).toBe('root (arn:aws:iam::123456789012:root)');
    expect(actorOf('arn:aws:iam::123456789012:something/else')).toBe('something/else (arn:aws:iam::123456789012:something/else)');
  });

  test('$HERD_ACTOR only adds a label, cleaned and cut; the actor never passes the 200 characters a deploy accepts', () => {
    expect(actorOf('arn:aws:iam::123456789012:user/alice', '  release pipeline\n#42 ')).toBe('alice (arn:aws:iam::123456789012:user/alice) [release pipeline #42]');
    expect(actorOf('arn:aws:iam::123456789012:user/alice', 'x'.repeat(100))).toBe(`alice (arn:aws:iam::123456789012:user/alice) [${'x'.repeat(60)}]`);
    // The longest assumed role: 64-character role and session names. Short form and ARN do not fit together: the ARN alone.
    const longest = `arn:aws-us-gov:sts::123456789012:assumed-role/${'r'.repeat(64)}/${'s'.repeat(64)}`;
    expect(actorOf(longest)).toBe(longest);
    expect(actorOf(longest, 'ci')).toHaveLength(longest.length + ' [ci]'.length);
    expect(actorOf(longest, 'a label that no longer fits beside the arn')).toBe(longest);
  });

  test('STS is asked once per process, and asked again after a failure', async () => {
    let calls = 0;
    let fail = true;
    const sts = {
      send: async (command: object) => {
        calls += 1;
        if (!(command instanceof GetCallerIdentityCommand)) throw new Error('unexpected');
        if (fail) throw new FakeAwsError('ExpiredToken', 'The security token included in the request is expired', 403);
        return { Arn: 'arn:aws:iam::123456789012:user/alice' };
      },
    } as unknown as AwsClients['sts'];
    const actor = cachedActor();
    await expect(actor({ sts })).rejects.toThrow('The security token included in the request is expired');
    fail = false;
    expect(await Promise.all([actor({ sts }), actor({ sts }), actor({ sts })])).toEqual(Array(3).fill('alice (arn:aws:iam::123456789012:user/alice)'));
    expect(calls).toBe(2);
  });

  test('fails when STS cannot say who the caller is: exit 1, nothing changed', async () => {
    const { sim, deps } = setup();
    sim.world.cloud.faults.push({ api: 'sts:GetCallerIdentity', code: 'ExpiredToken', message: 'The security token included in the request is expired', status: 403 });
    const run = await runHerd(['maintenance', 'on', 'staging'], deps());
    expect(run).toEqual({
      code: 1,
      out: '',
      err: `herd: AWS rejected the credentials of profile ${process.env.AWS_PROFILE || 'default'} as expired or invalid (ExpiredToken): run \`aws sso login${process.env.AWS_PROFILE ? ` --profile ${process.env.AWS_PROFILE}` : ''}\`, or renew the keys in AWS_ACCESS_KEY_ID / AWS_SESSION_TOKEN, then the command again\n`,
    });
    expect(sim.world.cloud.maintenanceRule(sim.world.env.loadBalancer.listenerArn, 10)).toBeUndefined();
    expect([...sim.world.cloud.table.values()].filter((i) => i.pk === 'ACTION')).toEqual([]);
  });
});

describe('operator actions in the history', () => {
  test('maintenance, autoscaling and unlock are recorded with the caller and what changed, and listed with the deploys, newest first', async () => {
    const { sim, deps } = setup();
    const table = sim.world.env.tableName;
    const put = (item: Record<string, unknown>) => sim.clients().dynamodb.send(new PutCommand({ TableName: table, Item: item }));
    const minute = () => sim.world.cloud.advance(60);
    await put(deployItem('d1', new Date(sim.world.clock.now() - 3_600_000).toISOString()));

    expect((await runHerd(['maintenance', 'on', 'staging'], deps())).code).toBe(0);
    minute();
    expect((await runHerd(['autoscaling', 'suspend', 'staging', 'Launch', 'Terminate'], deps())).code).toBe(0);
    minute();
    await put(deployItem('d2', new Date(sim.world.clock.now()).toISOString()));
    minute();
    expect((await runHerd(['autoscaling', 'resume', 'staging'], deps())).code).toBe(0);
    minute();
    expect((await runHerd(['maintenance', 'off', 'staging'], deps())).code).toBe(0);
    minute();
    const lock = { deployId: '20261105T090000Z-abcdef', actor: 'bob (arn:aws:iam::123456789012:user/bob)', release: 'r0', since: '2026-11-05T09:00:00.000Z' };
    await put({ pk: 'LOCK', sk: 'LOCK', ...lock });
    const unlock = await runHerd(['unlock', 'staging', '--deploy', lock.deployId], deps());
    expect(unlock.code).toBe(0);

    const json = await runHerd(['history', 'staging', '--json'], deps());
    expect(json.err).toBe('');
    const entries = JSON.parse(json.out) as { kind: string; verb?: string; deployId?: string; actor: string; detail?: string; environment?: string; at?: string }[];
    expect(entries.map((e) => [e.kind, e.verb ?? e.deployId, e.actor])).toEqual([
      ['action', 'unlock', SIMULATED_ACTOR],
      ['action', 'maintenance off', SIMULATED_ACTOR],
      ['action', 'autoscaling resume', SIMULATED_ACTOR],
      ['deploy', 'd2', lock.actor],
      ['action', 'autoscaling suspend', SIMULATED_ACTOR],
      ['action', 'maintenance on', SIMULATED_ACTOR],
      ['deploy', 'd1', lock.actor],
    ]);
    expect(entries.filter((e) => e.kind === 'action').map((e) => e.detail)).toEqual([
      `lock of staging broken: it was held by deploy ${lock.deployId} (${lock.actor}, release r0) since ${lock.since}`,
      'maintenance page lifted on staging (it was put up by manual)',
      'resumed all processes on herd-staging-web and herd-staging-worker',
      'suspended Launch, Terminate on herd-staging-web and herd-staging-worker',
      'maintenance page up on staging (http://herd-staging-123.eu-west-1.elb.amazonaws.com answers 503)',
    ]);
    expect(entries[0]).toEqual({ kind: 'action', verb: 'unlock', actor: SIMULATED_ACTOR, environment: 'staging', detail: expect.any(String), at: new Date(sim.world.clock.now()).toISOString() });
    // The table keys stay inside the table.
    expect(entries.every((e) => !('pk' in e) && !('sk' in e))).toBe(true);

    const text = await runHerd(['history', 'staging', '--limit', '4'], deps());
    const rows = text.out.split('\n').filter((l) => l.startsWith('│'));
    expect(rows[0]).toMatch(/^│ kind +│ when +│ deploy \/ action +│ release +│ strategy +│ actor +│ outcome +│ duration +│ phases +│ cause \/ what changed +│$/);
    expect(rows.slice(1).map((r) => r.split('│').map((c) => c.trim()).slice(1, 4))).toEqual([
      ['action', expect.stringMatching(/Z$/), 'unlock'],
      ['action', expect.stringMatching(/Z$/), 'maintenance off'],
      ['action', expect.stringMatching(/Z$/), 'autoscaling resume'],
      ['deploy', expect.stringMatching(/Z$/), 'd2'],
    ]);
    expect(rows[2]).toContain(`│ ${SIMULATED_ACTOR} │ done`);
  });

  test('a deploy that failed after its restore point says how to get the data back; a successful one only in --json', async () => {
    const { deps, sim } = setup();
    const table = sim.world.env.tableName;
    const put = (item: Record<string, unknown>) => sim.clients().dynamodb.send(new PutCommand({ TableName: table, Item: item }));
    const restore = 'restore to 2026-11-05T10:07:06.000Z (just before the migration) with `aws rds restore-db-instance-to-point-in-time …`';
    const at = (minutes: number) => new Date(sim.world.clock.now() - minutes * 60_000).toISOString();
    await put({ ...deployItem('d1', at(120)), status: 'succeeded', restore });
    await put({ ...deployItem('d2', at(60)), status: 'failed', failedPhase: 'migrate', error: 'migrate.waitRunner: migration failed', restore });
    const rows = (await runHerd(['history', 'staging'], deps())).out.split('\n').filter((l) => l.startsWith('│ deploy'));
    expect(rows[0]).toContain(`migrate: migrate.waitRunner: migration failed; to get the data back: ${restore}`);
    expect(rows[1]).not.toContain('to get the data back');
    const json = JSON.parse((await runHerd(['history', 'staging', '--json'], deps())).out) as { deployId: string; restore?: string }[];
    expect(json.map((e) => [e.deployId, e.restore])).toEqual([['d2', restore], ['d1', restore]]);
  });

  test('the operator\'s $HERD_ACTOR label is kept next to the identity, never instead of it', async () => {
    const { deps, sim } = setup({ actorLabel: 'release-pipeline #42' });
    expect((await runHerd(['maintenance', 'on', 'staging'], deps())).code).toBe(0);
    const [action] = await readHistoryEntries(sim.clients(), sim.world.env.tableName);
    expect(action).toMatchObject({ kind: 'action', action: { verb: 'maintenance on', actor: `${SIMULATED_ACTOR} [release-pipeline #42]` } });
  });

  test('a verb that changed nothing is recorded as such', async () => {
    const { deps, sim } = setup();
    expect((await runHerd(['maintenance', 'off', 'staging'], deps())).out).toBe('maintenance page of staging was not up; nothing changed\n');
    const [action] = await readHistoryEntries(sim.clients(), sim.world.env.tableName);
    expect(action).toMatchObject({ kind: 'action', action: { verb: 'maintenance off', detail: 'maintenance page of staging was not up; nothing changed' } });
  });

  test('a refused verb is not recorded', async () => {
    const { deps, sim } = setup();
    const run = await runHerd(['unlock', 'staging', '--deploy', '20261105T090000Z-abcdef'], deps());
    expect(run).toEqual({ code: 2, out: '', err: 'herd: environment staging is not locked\n' });
    expect(await readHistoryEntries(sim.clients(), sim.world.env.tableName)).toEqual([]);
  });

  test('fails to record without undoing the action: the page stays up, exit 0, a warning names what is missing', async () => {
    const { sim, deps } = setup();
    // Writes of operator actions are denied (as the item reaches DynamoDB: marshalled).
    sim.world.cloud.faults.push({
      api: 'dynamodb:PutItem',
      code: 'AccessDeniedException',
      message: 'not authorized to perform: dynamodb:PutItem',
      when: (input) => (input.Item as { pk?: { S?: string } } | undefined)?.pk?.S === 'ACTION',
    });
    const run = await runHerd(['maintenance', 'on', 'staging'], deps());
    expect(run.code).toBe(0);
    expect(run.err).toBe(
      `herd: warning: maintenance on on staging is done, but it could not be recorded in the deploy table ${sim.world.env.tableName} (AccessDeniedException: not authorized to perform: dynamodb:PutItem); \`herd history staging\` will not show it\n`,
    );
    expect(sim.world.cloud.maintenanceRule(sim.world.env.loadBalancer.listenerArn, 10)).toBeDefined();
  });

  test('an empty history says so', async () => {
    const { deps } = setup();
    expect((await runHerd(['history', 'staging'], deps())).out).toBe('no deploys or operator actions recorded on staging yet\n');
  });

  test('recordOperatorAction (for abort and repair) writes the item the history reads; --limit counts deploys and actions together', async () => {
    const { sim, deps } = setup();
    const table = sim.world.env.tableName;
    const t = Date.parse('2026-11-05T12:00:00.000Z');
    await sim.clients().dynamodb.send(new PutCommand({ TableName: table, Item: deployItem('d1', '2026-11-05T11:00:00.000Z') }));
    const item = await recordOperatorAction(sim.clients(), table, { verb: 'abort', actor: SIMULATED_ACTOR, environment: 'staging', detail: 'stopped deploy d1', at: t });
    await recordOperatorAction(sim.clients(), table, { verb: 'repair', actor: SIMULATED_ACTOR, environment: 'staging', detail: 'compensation of d1 run again', at: t + 60_000 });
    expect(item).toEqual({ pk: 'ACTION', sk: '2026-11-05T12:00:00.000Z#abort', verb: 'abort', actor: SIMULATED_ACTOR, environment: 'staging', detail: 'stopped deploy d1', at: '2026-11-05T12:00:00.000Z' });
    expect(sim.world.cloud.table.get('ACTION\u00002026-11-05T12:00:00.000Z#abort')).toEqual(item);
    const json = JSON.parse((await runHerd(['history', 'staging', '--json', '--limit', '2'], deps())).out) as { kind: string; verb?: string }[];
    expect(json.map((e) => [e.kind, e.verb])).toEqual([['action', 'repair'], ['action', 'abort']]);
  });
});
