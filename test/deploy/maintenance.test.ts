/** Maintenance page and lock helpers the CLI reuses (`herd maintenance on|off`, `herd unlock`). */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { breakLock } from '../../lambda/deploy/lock';
import { MAX_FIXED_RESPONSE_BYTES, maintenanceOff, maintenanceOn, maintenancePageHtml, maintenanceStatus } from '../../lambda/deploy/maintenance';
import { createWorld } from '../../lib/simulation/world';

function world() {
  const w = createWorld({ web: 2, serving: 'r1' });
  return { ...w, clients: w.cloud.clients() };
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
    expect(w.cloud.listeners.get(w.env.loadBalancer.listenerArn)).toHaveLength(1);
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
