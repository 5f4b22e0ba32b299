/** Maintenance page and lock helpers the CLI reuses (`herd maintenance on|off`, `herd unlock`). */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { breakLock } from '../../lambda/deploy/lock';
import { MAX_FIXED_RESPONSE_BYTES, maintenanceOff, maintenanceOn, maintenancePageHtml, maintenanceStatus } from '../../lambda/deploy/maintenance';
import { createWorld } from '../../lib/simulation/world';

/** Rules listed as soon as created (one test below turns the ELB listing lag back on). */
function world(maxLagSeconds = 0) {
  const w = createWorld({ web: 2, serving: 'r1', consistency: { maxLagSeconds, minLagSeconds: maxLagSeconds } });
  return { ...w, clients: w.cloud.clients() };
}

/** The listener's rules but the stack's staging rule (`lambda/deploy/switch.ts`). */
function pages(w: ReturnType<typeof world>) {
  return (w.cloud.listeners.get(w.env.loadBalancer.listenerArn) ?? []).filter((r) => r.arn !== w.env.loadBalancer.stagingRuleArn);
}

async function lockBy(w: ReturnType<typeof world>, deployId: string) {
  await w.clients.dynamodb.send(
    new PutCommand({ TableName: w.env.tableName, Item: { pk: 'LOCK', sk: 'LOCK', deployId, actor: 'alice', release: 'r2', since: '2026-11-05T10:00:00.000Z' } }),
  );
}

describe('maintenance page', () => {
  test('fits an ALB fixed response', () => {
    expect(Buffer.byteLength(maintenancePageHtml('a-very-long-application-name-indeed'), 'utf8')).toBeLessThanOrEqual(MAX_FIXED_RESPONSE_BYTES);
  });

  test('goes up once and reports an existing page instead of failing', async () => {
    const w = world();
    expect(await maintenanceOn(w.clients, w.env, 'manual')).toEqual({ on: false });
    const again = await maintenanceOn(w.clients, w.env, 'deploy-0001');
    expect(again).toMatchObject({ on: true, owner: 'manual' });
    expect(pages(w)).toHaveLength(1);
  });

  test('a page put up seconds ago that DescribeRules does not list yet is "not visible yet", never a second page or "was off"', async () => {
    const w = world(5);
    expect(await maintenanceOn(w.clients, w.env, 'manual')).toEqual({ on: false });
    await expect(maintenanceOn(w.clients, w.env, 'deploy-0001')).rejects.toThrow(
      expect.objectContaining({ name: 'NotVisibleYet', message: expect.stringContaining('is in use, but DescribeRules does not list a rule there yet') }),
    );
    expect(pages(w)).toHaveLength(1);
    w.cloud.advance(5);
    expect(await maintenanceOn(w.clients, w.env, 'deploy-0001')).toMatchObject({ on: true, owner: 'manual' });
  });

  test('fails when lifting a page a running deploy owns without force', async () => {
    const w = world();
    await maintenanceOn(w.clients, w.env, 'deploy-0001');
    await lockBy(w, 'deploy-0001');
    await expect(maintenanceOff(w.clients, w.env)).rejects.toThrow(
      'the maintenance page of staging belongs to running deploy deploy-0001 (alice, since 2026-11-05T10:00:00.000Z); it comes down when that deploy ends, or lift it anyway with `herd maintenance off staging --force`',
    );
    expect((await maintenanceStatus(w.clients, w.env)).on).toBe(true);
    await maintenanceOff(w.clients, w.env, { force: true });
    expect((await maintenanceStatus(w.clients, w.env)).on).toBe(false);
  });

  test.each([
    ['an app\'s own rule (forward, no herd tags)', { Type: 'forward', TargetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/other/1' }, {}],
    ['a fixed response of someone else (no herd tags)', { Type: 'fixed-response', FixedResponseConfig: { StatusCode: '503' } }, {}],
    ['a page of another herd environment', { Type: 'fixed-response', FixedResponseConfig: { StatusCode: '503' } }, { 'herd:app': 'shop', 'herd:environment': 'production', 'herd:deploy': 'manual' }],
  ])('never counts, lifts or replaces %s at the maintenance priority, and refuses to put a page up', async (_what, action, tags) => {
    const w = world();
    const rules = w.cloud.listeners.get(w.env.loadBalancer.listenerArn)!;
    rules.push({ arn: `${w.env.loadBalancer.listenerArn}/rule/theirs`, priority: w.env.loadBalancer.maintenancePriority, conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/*'] } }], actions: [action as never], tags });
    expect(await maintenanceStatus(w.clients, w.env)).toEqual({ on: false, foreignRuleArn: `${w.env.loadBalancer.listenerArn}/rule/theirs` });
    await expect(maintenanceOn(w.clients, w.env, 'deploy-0001')).rejects.toThrow(
      `priority 10 of the listener of staging holds rule ${w.env.loadBalancer.listenerArn}/rule/theirs, which herd did not create; herd puts its maintenance page at that priority and changes nothing while another rule holds it: move that rule to a priority of 100 or more (aws elbv2 set-rule-priorities)`,
    );
    await maintenanceOff(w.clients, w.env, { force: true });
    expect(rules.filter((r) => r.arn !== w.env.loadBalancer.stagingRuleArn).map((r) => r.arn)).toEqual([`${w.env.loadBalancer.listenerArn}/rule/theirs`]);
  });

  test('lifts a page whose deploy no longer holds the lock', async () => {
    const w = world();
    await maintenanceOn(w.clients, w.env, 'deploy-0001');
    await maintenanceOff(w.clients, w.env);
    expect((await maintenanceStatus(w.clients, w.env)).on).toBe(false);
  });
});

describe('breakLock', () => {
  test('fails when the lock belongs to another deploy', async () => {
    const w = world();
    await lockBy(w, 'deploy-0002');
    await expect(breakLock(w.clients, w.env.tableName, 'staging', 'deploy-0001')).rejects.toThrow(
      'environment staging is locked by deploy deploy-0002, not deploy-0001; nothing was changed',
    );
  });

  test('fails when nothing is locked', async () => {
    const w = world();
    await expect(breakLock(w.clients, w.env.tableName, 'staging', 'deploy-0001')).rejects.toThrow('environment staging is not locked');
  });

  test('breaks the named stale lock', async () => {
    const w = world();
    await lockBy(w, 'deploy-0001');
    await expect(breakLock(w.clients, w.env.tableName, 'staging', 'deploy-0001')).resolves.toMatchObject({ deployId: 'deploy-0001', actor: 'alice' });
    expect(w.cloud.table.size).toBe(0);
  });
});
