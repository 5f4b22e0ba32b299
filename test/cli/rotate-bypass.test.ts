/**
 * `herd maintenance rotate-bypass <env>` in the simulated environment (every call evaluated
 * against the operator's generated policy after each test): the value the secret holds is
 * always one the rule accepts, and the value an operator read before the rotation keeps
 * working until the new one is stored; a rotation stopped after any step says what it left
 * and is finished by running it again; refusals change nothing; no value is ever printed.
 */
import * as elb from '@aws-sdk/client-elastic-load-balancing-v2';
import type { AwsClients } from '../../lib/cli/deps';
import { lockedMessage } from '../../lambda/deploy/lock';
import { BYPASS_HEADER_PRIORITY } from '../../lib/names';
import { findSecret } from '../../lib/simulation/services/secrets-manager';
import { runHerd, testDeps } from './support/harness';
import { BYPASS_SECRET_ARN, SIMULATED_ACTOR, SimulatedEnvironment } from './support/simulated';

type Send = (command: { constructor: { name: string } }) => Promise<unknown>;

function setup() {
  const sim = new SimulatedEnvironment({ web: 2, worker: 1, serving: 'r1' });
  const cloud = sim.world.cloud;
  const listenerArn = sim.world.env.loadBalancer.listenerArn;
  const rule = () => cloud.listeners.get(listenerArn)!.find((r) => r.priority === BYPASS_HEADER_PRIORITY)!;
  const accepted = (): string[] => rule()?.conditions[0]?.HttpHeaderConfig?.Values ?? [];
  const stored = () => findSecret(cloud, BYPASS_SECRET_ARN).value;
  /** (rule values, stored value) after each call the CLI makes; `fail` makes one call throw, not sent. */
  const moments: { call: string; accepted: string[]; stored: string }[] = [];
  let fail: { call: string; nth: number; error: Error } | undefined;
  const counts = new Map<string, number>();
  const wrap = <T extends object>(client: T): T =>
    new Proxy(client, {
      get(target, prop, receiver) {
        if (prop !== 'send') return Reflect.get(target, prop, receiver);
        const send = (Reflect.get(target, prop, receiver) as Send).bind(target);
        return async (command: { constructor: { name: string } }) => {
          const call = command.constructor.name.replace(/Command$/, '');
          const n = (counts.get(call) ?? 0) + 1;
          counts.set(call, n);
          if (fail && fail.call === call && fail.nth === n) throw fail.error;
          const out = await send(command);
          moments.push({ call, accepted: [...accepted()], stored: stored() });
          return out;
        };
      },
    });
  const clients = (): AwsClients => {
    const c = sim.clients();
    return { ...c, elbv2: wrap(c.elbv2), secretsManager: wrap(c.secretsManager) };
  };
  const deps = () => testDeps({ clients, now: () => sim.world.clock.now(), sleep: () => sim.sleep() });
  const rotate = () => runHerd(['maintenance', 'rotate-bypass', 'staging'], deps());
  const actions = () => [...cloud.table.values()].filter((i) => i.pk === 'ACTION').map((i) => ({ verb: i.verb, actor: i.actor, detail: i.detail }));
  const failNext = (call: string, nth: number, name: string, message = `${name}: the service refused`) => {
    counts.clear();
    fail = { call, nth, error: Object.assign(new Error(message), { name, $metadata: {} }) };
  };
  const succeedNext = () => {
    counts.clear();
    fail = undefined;
  };
  return { sim, cloud, rule, accepted, stored, moments, rotate, actions, failNext, succeedNext };
}

describe('herd maintenance rotate-bypass', () => {
  test('stores a new value and makes the rule accept only it, never leaving the stored value refused, and records who (not the value)', async () => {
    const t = setup();
    const before = t.stored();
    expect(t.accepted()).toEqual([before]);
    const run = await t.rotate();
    expect([run.code, run.err]).toEqual([0, '']);
    const after = t.stored();
    expect(after).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(after).not.toBe(before);
    expect(t.accepted()).toEqual([after]);
    // The three steps, in order: both accepted, new stored, only the new accepted.
    const changes = t.moments.filter((m) => m.call !== 'DescribeRules' && m.call !== 'GetSecretValue');
    expect(changes).toEqual([
      { call: 'ModifyRule', accepted: [before, after], stored: before },
      { call: 'PutSecretValue', accepted: [before, after], stored: after },
      { call: 'ModifyRule', accepted: [after], stored: after },
    ]);
    // At every moment the stored value passes; an operator who read it before keeps passing until the new one is stored.
    for (const m of t.moments) expect(m.accepted).toContain(m.stored);
    expect(run.out).toContain(`bypass value of staging rotated: the X-Herd-Bypass rule accepts only the new value, stored in ${BYPASS_SECRET_ARN}`);
    expect(run.out).toContain('aws secretsmanager get-secret-value --secret-id');
    for (const value of [before, after]) expect(run.out + run.err).not.toContain(value);
    expect(t.actions()).toEqual([{ verb: 'maintenance rotate-bypass', actor: SIMULATED_ACTOR, detail: expect.stringContaining('rotated') }]);
    expect(JSON.stringify(t.actions())).not.toContain(after);
  });

  test.each([
    ['storing the new value', 'PutSecretValue', 1, 'The rule accepts both the stored value and the new one, so every operator\'s value still works'],
    ['narrowing the rule to the new value', 'ModifyRule', 2, 'stored the new value but the rule still accepts the previous one too'],
  ])('stopped while %s: says what state it left, every value still works, and a second run finishes cleanly', async (_what, call, nth, state) => {
    const t = setup();
    const before = t.stored();
    t.failNext(call, nth, 'AccessDeniedException');
    const stopped = await t.rotate();
    expect(stopped.code).toBe(1);
    expect(stopped.err).toContain(state);
    expect(stopped.err).toContain('run `herd maintenance rotate-bypass staging` again to finish');
    expect(t.accepted()).toContain(before);
    expect(t.accepted()).toContain(t.stored());
    expect(t.actions()).toEqual([{ verb: 'maintenance rotate-bypass', actor: SIMULATED_ACTOR, detail: expect.stringContaining('stopped part-way') }]);
    for (const value of t.accepted()) expect(stopped.out + stopped.err).not.toContain(value);

    t.succeedNext();
    const again = await t.rotate();
    expect([again.code, again.err]).toEqual([0, '']);
    expect(t.accepted()).toEqual([t.stored()]);
    expect(t.stored()).not.toBe(before);
    for (const m of t.moments) expect(m.accepted).toContain(m.stored);
  });

  test('a first step that fails changes nothing and says the AWS error, with any bypass value in it replaced', async () => {
    const t = setup();
    const before = t.stored();
    t.failNext('ModifyRule', 1, 'ValidationError', `Condition value '${before}' is not valid`);
    const run = await t.rotate();
    expect(run.code).toBe(1);
    expect(run.err).toContain('Condition value \'<bypass value>\' is not valid');
    expect(run.err).not.toContain(before);
    expect([t.accepted(), t.stored()]).toEqual([[before], before]);
  });

  test('a rule changed by hand (it no longer accepts the stored value) ends agreeing with the secret', async () => {
    const t = setup();
    t.rule().conditions = [{ Field: 'http-header', HttpHeaderConfig: { HttpHeaderName: 'X-Herd-Bypass', Values: ['SetByHandInTheConsole0000000000'] } }];
    const run = await t.rotate();
    expect(run.code).toBe(0);
    expect(run.out).toContain('the rule did not accept the stored value before');
    expect(t.accepted()).toEqual([t.stored()]);
    // Meanwhile the hand-set value kept working too.
    expect(t.moments.find((m) => m.call === 'PutSecretValue')?.accepted).toContain('SetByHandInTheConsole0000000000');
  });

  const lock = { deployId: '20261105T090000Z-abcdef', actor: 'bob', release: 'r0', since: '2026-11-05T09:00:00.000Z' };
  test.each<[string, (t: ReturnType<typeof setup>) => void, string]>([
    ['while a deploy holds the lock', (t) => void t.cloud.table.set('LOCK\u0000LOCK', { pk: 'LOCK', sk: 'LOCK', ...lock }),
      `herd: ${lockedMessage('staging', lock)}. The bypass value does not change while a deploy runs (its checks may be using it): wait for it to end (herd watch staging), then run this again; nothing was changed\n`],
    ['when the environment has no bypass header', (t) => void delete t.cloud.stacks.get('herd-staging')!.outputs!.MaintenanceBypassSecretArn,
      'herd: staging has no bypass header to rotate (its stack outputs no MaintenanceBypassSecretArn: maintenance.bypassHeader is false); set maintenance.bypassHeader: true and run cdk deploy to have one; nothing was changed\n'],
    ['when the listener has no bypass rule', (t) => void t.cloud.listeners.get(t.sim.world.env.loadBalancer.listenerArn)!.splice(0),
      expect.stringContaining('herd: the listener of staging has no X-Herd-Bypass rule at priority 1') as unknown as string],
  ])('is refused %s, changing nothing', async (_what, arrange, message) => {
    const t = setup();
    arrange(t);
    const before = { secret: t.stored(), rules: JSON.stringify([...t.cloud.listeners.values()]), actions: t.actions() };
    const run = await t.rotate();
    expect([run.code, run.err]).toEqual([2, message]);
    expect({ secret: t.stored(), rules: JSON.stringify([...t.cloud.listeners.values()]), actions: t.actions() }).toEqual(before);
    expect(t.moments.map((m) => m.call)).not.toContain('ModifyRule');
  });

  test('is listed in herd maintenance --help', async () => {
    const t = setup();
    const help = await runHerd(['maintenance', '--help'], testDeps({ clients: () => t.sim.clients() }));
    expect(help.out).toContain('rotate-bypass');
    expect(help.out).toContain('$ herd maintenance rotate-bypass production');
  });
});

describe('the fake ModifyRule, as strict as ELB', () => {
  const send = (sim: SimulatedEnvironment, input: elb.ModifyRuleCommandInput) => sim.clients().elbv2.send(new elb.ModifyRuleCommand(input));
  const header = (values: string[]) => [{ Field: 'http-header', HttpHeaderConfig: { HttpHeaderName: 'X-Herd-Bypass', Values: values } }];

  test.each<[string, (arn: string) => elb.ModifyRuleCommandInput, string]>([
    ['an unknown rule', (arn) => ({ RuleArn: `${arn}x`, Conditions: header(['a']) }), 'RuleNotFoundException'],
    ['the default rule', (arn) => ({ RuleArn: `${arn.slice(0, arn.lastIndexOf('/'))}/default`.replace(':listener-rule/', ':listener/'), Conditions: header(['a']) }), 'OperationNotPermittedException'],
    ['four values in one condition (three at most)', (arn) => ({ RuleArn: arn, Conditions: header(['a', 'b', 'c', 'd']) }), 'ValidationError'],
    ['six values in one rule (five at most)', (arn) => ({ RuleArn: arn, Conditions: [...header(['a', 'b', 'c']), { Field: 'http-header', HttpHeaderConfig: { HttpHeaderName: 'X-Other', Values: ['d', 'e', 'f'] } }] }), 'ValidationError'],
    ['a value over 128 characters', (arn) => ({ RuleArn: arn, Conditions: header(['x'.repeat(129)]) }), 'ValidationError'],
    ['no condition', (arn) => ({ RuleArn: arn, Conditions: [] }), 'ValidationError'],
  ])('refuses %s', async (_what, input, name) => {
    const sim = new SimulatedEnvironment({ web: 1, serving: 'r1' });
    const rule = sim.world.cloud.listeners.get(sim.world.env.loadBalancer.listenerArn)!.find((r) => r.priority === BYPASS_HEADER_PRIORITY)!;
    const before = JSON.stringify(rule);
    await expect(send(sim, input(rule.arn))).rejects.toMatchObject({ name });
    expect(JSON.stringify(rule)).toBe(before);
    sim.iam.calls.splice(0);
  });

  test('replaces the whole condition list and answers the rule', async () => {
    const sim = new SimulatedEnvironment({ web: 1, serving: 'r1' });
    const rule = sim.world.cloud.listeners.get(sim.world.env.loadBalancer.listenerArn)!.find((r) => r.priority === BYPASS_HEADER_PRIORITY)!;
    const out = await send(sim, { RuleArn: rule.arn, Conditions: header(['a', 'b']) });
    expect(out.Rules?.[0]).toMatchObject({ RuleArn: rule.arn, Priority: '1', Conditions: header(['a', 'b']) });
    expect(rule.conditions).toEqual(header(['a', 'b']));
  });
});
