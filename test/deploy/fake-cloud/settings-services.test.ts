/**
 * The fake's Secrets Manager and SSM listing reject what AWS rejects (API references:
 * CreateSecret, PutSecretValue, DeleteSecret, RestoreSecret; PutParameter, GetParametersByPath),
 * and an instance refresh without SkipMatching replaces instances already on its version.
 */
import { DescribeInstanceRefreshesCommand, StartInstanceRefreshCommand } from '@aws-sdk/client-auto-scaling';
import { CreateSecretCommand, DeleteSecretCommand, GetSecretValueCommand, PutSecretValueCommand, RestoreSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParametersByPathCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { fakeClient } from '../../../lib/simulation/transport';
import { createWorld } from '../../../lib/simulation/world';

function world() {
  const w = createWorld({ web: 2, worker: 1, serving: 'r1', consistency: { maxLagSeconds: 0 } });
  return { ...w, clients: w.cloud.clients(), sm: fakeClient(SecretsManagerClient, w.cloud, 'secretsManager') };
}

describe('fake Secrets Manager', () => {
  test('fails when a name exists, is pending deletion, or a value is read or written while it is; RestoreSecret makes it usable again', async () => {
    const { sm } = world();
    const created = await sm.send(new CreateSecretCommand({ Name: 'herd/shop/staging/config/A', SecretString: 'one' }));
    expect(created.ARN).toMatch(/:secret:herd\/shop\/staging\/config\/A-[A-Za-z0-9]{6}$/);
    await expect(sm.send(new CreateSecretCommand({ Name: 'herd/shop/staging/config/A', SecretString: 'x' }))).rejects.toMatchObject({ name: 'ResourceExistsException' });
    await expect(sm.send(new DeleteSecretCommand({ SecretId: created.ARN, RecoveryWindowInDays: 6 }))).rejects.toMatchObject({ name: 'InvalidParameterException' });
    await sm.send(new DeleteSecretCommand({ SecretId: created.ARN, RecoveryWindowInDays: 7 }));
    await expect(sm.send(new CreateSecretCommand({ Name: 'herd/shop/staging/config/A', SecretString: 'x' }))).rejects.toMatchObject({ name: 'InvalidRequestException' });
    await expect(sm.send(new PutSecretValueCommand({ SecretId: created.ARN, SecretString: 'x' }))).rejects.toMatchObject({ name: 'InvalidRequestException' });
    await expect(sm.send(new GetSecretValueCommand({ SecretId: 'herd/shop/staging/config/A' }))).rejects.toMatchObject({ name: 'InvalidRequestException' });
    await sm.send(new RestoreSecretCommand({ SecretId: 'herd/shop/staging/config/A' }));
    await sm.send(new PutSecretValueCommand({ SecretId: created.ARN, SecretString: 'two' }));
    expect((await sm.send(new GetSecretValueCommand({ SecretId: created.ARN }))).SecretString).toBe('two');
    await expect(sm.send(new GetSecretValueCommand({ SecretId: 'herd/shop/staging/config/B' }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  test('fails when a value is over 65,536 bytes', async () => {
    const { sm } = world();
    await expect(sm.send(new CreateSecretCommand({ Name: 'big', SecretString: 'é'.repeat(32769) }))).rejects.toMatchObject({ name: 'ValidationException' });
  });
});

describe('fake SSM parameters', () => {
  test('fails when a standard-tier value is over 4,096 characters, or a new parameter has no type', async () => {
    const { clients } = world();
    await expect(clients.ssm.send(new PutParameterCommand({ Name: '/herd/shop/staging/env/BIG', Value: 'x'.repeat(4097), Type: 'String' }))).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(clients.ssm.send(new PutParameterCommand({ Name: '/herd/shop/staging/env/NEW', Value: 'x' }))).rejects.toThrow('A parameter type is required when you create a parameter.');
    await clients.ssm.send(new PutParameterCommand({ Name: '/herd/shop/staging/env/OK', Value: 'x'.repeat(4096), Type: 'String' }));
  });

  test('GetParametersByPath lists one level below the path, in partial pages a caller must follow', async () => {
    const { clients } = world();
    for (let n = 0; n < 12; n++) await clients.ssm.send(new PutParameterCommand({ Name: `/herd/shop/staging/env/K${String(n).padStart(2, '0')}`, Value: 'v', Type: 'String' }));
    await clients.ssm.send(new PutParameterCommand({ Name: '/herd/shop/staging/env/deeper/X', Value: 'v', Type: 'String' }));
    await expect(clients.ssm.send(new GetParametersByPathCommand({ Path: '/herd/shop/staging/env/', MaxResults: 11 }))).rejects.toMatchObject({ name: 'ValidationException' });
    const names: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await clients.ssm.send(new GetParametersByPathCommand({ Path: '/herd/shop/staging/env/', ...(token ? { NextToken: token } : {}) }));
      expect((page.Parameters ?? []).length).toBeLessThanOrEqual(10);
      names.push(...(page.Parameters ?? []).map((p) => p.Name ?? ''));
      token = page.NextToken;
      pages += 1;
    } while (token);
    // Best effort, as its reference says: fewer than MaxResults a page, so one page is not all.
    expect(pages).toBeGreaterThan(1);
    expect(names).toEqual(Array.from({ length: 12 }, (_, n) => `/herd/shop/staging/env/K${String(n).padStart(2, '0')}`));
  });
});

describe('fake instance refresh', () => {
  test('without SkipMatching, replaces every instance, even those on the desired version', async () => {
    const { cloud, clients, env } = world();
    const group = cloud.groups.get('herd-staging-web')!;
    const before = group.instances.map((i) => i.id);
    await clients.autoScaling.send(new StartInstanceRefreshCommand({
      AutoScalingGroupName: 'herd-staging-web',
      DesiredConfiguration: { LaunchTemplate: { LaunchTemplateId: env.fleets.web.launchTemplateId, Version: group.ltVersion } },
      Preferences: { MinHealthyPercentage: 100, MaxHealthyPercentage: 200, SkipMatching: false, InstanceWarmup: 60 },
    }));
    cloud.advance(1800);
    const refresh = (await clients.autoScaling.send(new DescribeInstanceRefreshesCommand({ AutoScalingGroupName: 'herd-staging-web' }))).InstanceRefreshes?.[0];
    expect(refresh?.Status).toBe('Successful');
    const after = group.instances.map((i) => i.id);
    expect(after).toHaveLength(2);
    expect(after.filter((id) => before.includes(id))).toEqual([]);
  });
});
