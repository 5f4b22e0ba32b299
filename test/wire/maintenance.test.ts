/**
 * Wire level: the maintenance page (`lambda/deploy/maintenance.ts`, the `maintenance.on` /
 * `maintenance.off` rollout steps and the `compensate.maintenance` step) against ELBv2 as
 * moto implements it: CreateRule with a fixed-response action and tags, DescribeRules,
 * DescribeTags on a rule ARN, DeleteRule; the ownership check reads the lock from DynamoDB.
 *
 * Every call here is supported by moto. What moto does not check: that the fixed-response
 * body is at most 1024 characters (asserted here on what the rule holds).
 */
import { DescribeRulesCommand, DescribeTagsCommand, type Rule } from '@aws-sdk/client-elastic-load-balancing-v2';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { COMPENSATION_STEPS } from '../../lambda/deploy/compensate';
import { MaintenanceOwnedError } from '../../lambda/deploy/errors';
import { MANUAL_OWNER, MAX_FIXED_RESPONSE_BYTES, maintenanceOff, maintenanceOn, maintenancePageHtml, maintenanceStatus } from '../../lambda/deploy/maintenance';
import { ROLLOUT_STEPS } from '../../lambda/deploy/rollout';
import type { DeployEnvironment } from '../../lambda/deploy/environment';
import { TAGS } from '../../lib/names';
import { startMoto } from '../support/moto';
import { beforeFirst, createDeployTable, createLoadBalancer, createNetwork, destroyClients, wireClients, type LoadBalancer, type WireClients } from './cloud';
import { ManualClock, advanceContext, deployEnvironment, deployState, stepOf as step } from './fixtures';

describe('wire: maintenance page on an ALB listener (moto)', () => {
  const moto = startMoto();
  let clients: WireClients;
  let lb: LoadBalancer;
  let env: DeployEnvironment;

  beforeAll(async () => {
    clients = wireClients(await moto.ready);
  });
  afterAll(() => destroyClients(clients));
  beforeEach(async () => {
    await moto.server().reset();
    const network = await createNetwork(clients);
    lb = await createLoadBalancer(clients, network, 'herd-staging');
    env = deployEnvironment({ listenerArn: lb.listenerArn, targetGroupArn: lb.targetGroupArn, maintenancePriority: 10 });
    await createDeployTable(clients, env.tableName);
  });

  async function rules(): Promise<Rule[]> {
    const res = await clients.elbv2.send(new DescribeRulesCommand({ ListenerArn: lb.listenerArn }));
    return res.Rules ?? [];
  }

  async function tagsOf(arn: string): Promise<Record<string, string>> {
    const res = await clients.elbv2.send(new DescribeTagsCommand({ ResourceArns: [arn] }));
    return Object.fromEntries((res.TagDescriptions?.[0]?.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  }

  async function lockBy(deployId: string): Promise<void> {
    await clients.dynamodb.send(
      new PutCommand({ TableName: env.tableName, Item: { pk: 'LOCK', sk: 'LOCK', deployId, actor: 'alice', release: 'r2', since: '2026-11-05T10:00:00.000Z' } }),
    );
  }

  test('on: a fixed-response 503 rule at the reserved priority, tagged with its owner', async () => {
    expect(await maintenanceOn(clients, env, 'deploy-0001')).toEqual({ on: false });

    const rule = (await rules()).find((r) => r.Priority === '10');
    expect(rule).toBeDefined();
    expect(rule?.Conditions).toEqual([expect.objectContaining({ Field: 'path-pattern', PathPatternConfig: { Values: ['/*'] } })]);
    expect(rule?.Actions).toHaveLength(1);
    const action = rule?.Actions?.[0];
    expect(action?.Type).toBe('fixed-response');
    expect(action?.FixedResponseConfig).toEqual({ StatusCode: '503', ContentType: 'text/html', MessageBody: maintenancePageHtml('shop') });
    const body = action?.FixedResponseConfig?.MessageBody ?? '';
    expect(body).toContain('<h1>Down for maintenance</h1>');
    expect(Buffer.byteLength(body, 'utf8')).toBeLessThanOrEqual(MAX_FIXED_RESPONSE_BYTES);
    expect(await tagsOf(rule?.RuleArn ?? '')).toEqual({ [TAGS.app]: 'shop', [TAGS.environment]: 'staging', [TAGS.deploy]: 'deploy-0001' });

    // The bypass rule (smaller number, created by the stack) is untouched and still wins.
    expect((await rules()).filter((r) => r.IsDefault !== true).map((r) => r.Priority)).toEqual(['5', '10']);
    expect(await maintenanceStatus(clients, env)).toEqual({ on: true, ruleArn: rule?.RuleArn, owner: 'deploy-0001' });
  });

  test('on again is idempotent and reports the page already up with its owner', async () => {
    await maintenanceOn(clients, env, MANUAL_OWNER);
    const before = await rules();
    const again = await maintenanceOn(clients, env, 'deploy-0002');
    expect(again).toMatchObject({ on: true, owner: MANUAL_OWNER });
    const after = await rules();
    expect(after.map((r) => r.RuleArn)).toEqual(before.map((r) => r.RuleArn));
    expect(after.filter((r) => r.Priority === '10')).toHaveLength(1);
  });

  test('off: the rule is gone, the bypass rule stays, and off again is a no-op', async () => {
    await maintenanceOn(clients, env, MANUAL_OWNER);
    const lifted = await maintenanceOff(clients, env);
    expect(lifted).toMatchObject({ on: true, owner: MANUAL_OWNER });
    expect((await rules()).filter((r) => r.IsDefault !== true).map((r) => r.RuleArn)).toEqual([lb.bypassRuleArn]);
    expect(await maintenanceStatus(clients, env)).toEqual({ on: false });
    expect(await maintenanceOff(clients, env)).toEqual({ on: false });
  });

  test('fails when lifting a page a running deploy owns without force', async () => {
    await maintenanceOn(clients, env, 'deploy-0001');
    await lockBy('deploy-0001');
    const expected =
      'the maintenance page of staging belongs to running deploy deploy-0001 (alice, since 2026-11-05T10:00:00.000Z); ' +
      'it comes down when that deploy ends, or lift it anyway with `herd maintenance off staging --force`';
    await expect(maintenanceOff(clients, env)).rejects.toThrow(new MaintenanceOwnedError(expected));
    await expect(maintenanceOff(clients, env, { deployId: 'deploy-0002' })).rejects.toThrow(expected);
    expect((await maintenanceStatus(clients, env)).on).toBe(true);

    // The owner itself, or force, lifts it.
    await maintenanceOff(clients, env, { force: true });
    expect((await maintenanceStatus(clients, env)).on).toBe(false);
    await maintenanceOn(clients, env, 'deploy-0001');
    await maintenanceOff(clients, env, { deployId: 'deploy-0001' });
    expect((await maintenanceStatus(clients, env)).on).toBe(false);
  });

  test('a page put up by someone else between the read and the write is reported, not an error (PriorityInUse)', async () => {
    const racing = wireClients(moto.server());
    try {
      beforeFirst(racing.elbv2, 'CreateRuleCommand', async () => {
        await maintenanceOn(clients, env, MANUAL_OWNER);
      });
      const result = await maintenanceOn(racing, env, 'deploy-0001');
      expect(result).toMatchObject({ on: true, owner: MANUAL_OWNER });
      expect((await rules()).filter((r) => r.Priority === '10')).toHaveLength(1);
    } finally {
      destroyClients(racing);
    }
  });

  test('a page lifted by someone else between the read and the delete is not an error (RuleNotFound)', async () => {
    await maintenanceOn(clients, env, MANUAL_OWNER);
    const racing = wireClients(moto.server());
    try {
      beforeFirst(racing.elbv2, 'DeleteRuleCommand', async () => {
        await maintenanceOff(clients, env);
      });
      expect(await maintenanceOff(racing, env)).toMatchObject({ on: true, owner: MANUAL_OWNER });
      expect(await maintenanceStatus(clients, env)).toEqual({ on: false });
    } finally {
      destroyClients(racing);
    }
  });

  test('lifts a page whose deploy no longer holds the lock', async () => {
    await maintenanceOn(clients, env, 'deploy-0001');
    await lockBy('deploy-0009');
    await maintenanceOff(clients, env);
    expect(await maintenanceStatus(clients, env)).toEqual({ on: false });
  });

  test('a full deploy puts its page up and its compensation lifts it', async () => {
    const clock = new ManualClock();
    const ctx = advanceContext(clients, env, clock);
    const state = deployState(ctx, { deployId: 'deploy-0001', strategy: 'full' });

    expect(await step(ROLLOUT_STEPS, 'maintenance.on')(state, ctx)).toEqual({ stageDone: true });
    expect(state.maintenance).toEqual({ wasOnBefore: false, onAt: clock.now() });
    expect(await maintenanceStatus(clients, env)).toMatchObject({ on: true, owner: 'deploy-0001' });

    clock.advance(120);
    await step(COMPENSATION_STEPS, 'compensate.maintenance')(state, ctx);
    expect(await maintenanceStatus(clients, env)).toEqual({ on: false });
    expect(state.maintenance).toEqual({ wasOnBefore: false, onAt: clock.now() - 120_000, offAt: clock.now() });
  });

  test('a full deploy leaves a page that was up before it alone', async () => {
    await maintenanceOn(clients, env, MANUAL_OWNER);
    const ctx = advanceContext(clients, env);
    const state = deployState(ctx, { deployId: 'deploy-0001', strategy: 'full' });

    await step(ROLLOUT_STEPS, 'maintenance.on')(state, ctx);
    expect(state.maintenance).toEqual({ wasOnBefore: true });
    await step(ROLLOUT_STEPS, 'maintenance.off')(state, ctx);
    await step(COMPENSATION_STEPS, 'compensate.maintenance')(state, ctx);
    expect(await maintenanceStatus(clients, env)).toMatchObject({ on: true, owner: MANUAL_OWNER });
  });
});
