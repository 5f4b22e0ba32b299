/** The fake cloud rejects what AWS rejects, and its processes follow the virtual clock. */
import { StartInstanceRefreshCommand, UpdateAutoScalingGroupCommand } from '@aws-sdk/client-auto-scaling';
import { CreateLaunchTemplateVersionCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateRuleCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { createWorld } from '../../../lib/simulation/world';

function world() {
  const w = createWorld({ web: 2, worker: 1, serving: 'r1', alarms: ['a5xx'] });
  return { ...w, clients: w.cloud.clients() };
}

describe('fake cloud', () => {
  test('fails when a launch-template version does not exist', async () => {
    const { clients, env } = world();
    await expect(
      clients.ec2.send(new CreateLaunchTemplateVersionCommand({ LaunchTemplateId: env.fleets.web.launchTemplateId, SourceVersion: '7', LaunchTemplateData: {} })),
    ).rejects.toThrow(`Could not find launch template version 7 for ${env.fleets.web.launchTemplateId}`);
    await expect(
      clients.autoScaling.send(
        new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: 'herd-staging-web', LaunchTemplate: { LaunchTemplateId: env.fleets.web.launchTemplateId, Version: '3' } }),
      ),
    ).rejects.toThrow(`Could not find launch template version 3 for ${env.fleets.web.launchTemplateId}`);
  });

  test('fails when a rule takes a priority in use, or a fixed response exceeds 1024 characters', async () => {
    const { clients, env } = world();
    const rule = {
      ListenerArn: env.loadBalancer.listenerArn,
      Priority: 5,
      Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/*'] } }],
      Actions: [{ Type: 'fixed-response' as const, FixedResponseConfig: { StatusCode: '503', ContentType: 'text/html', MessageBody: 'down' } }],
    };
    await clients.elbv2.send(new CreateRuleCommand(rule));
    await expect(clients.elbv2.send(new CreateRuleCommand(rule))).rejects.toThrow("Priority '5' is currently in use");
    await expect(
      clients.elbv2.send(
        new CreateRuleCommand({ ...rule, Priority: 6, Actions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '503', MessageBody: 'x'.repeat(1025) } }] }),
      ),
    ).rejects.toThrow('Fixed response message body is 1025 characters; at most 1024 are allowed');
  });

  test('fails when an instance refresh breaks AWS rules (auto-rollback prerequisites, overlapping refresh, percentages)', async () => {
    const { clients, env } = world();
    const lt = env.fleets.web.launchTemplateId;
    await expect(
      clients.autoScaling.send(new StartInstanceRefreshCommand({ AutoScalingGroupName: 'herd-staging-web', Preferences: { AutoRollback: true, MinHealthyPercentage: 100, MaxHealthyPercentage: 150 } })),
    ).rejects.toThrow('AutoRollback requires a desired configuration');
    await expect(
      clients.autoScaling.send(new StartInstanceRefreshCommand({ AutoScalingGroupName: 'herd-staging-web', Preferences: { MinHealthyPercentage: 100, MaxHealthyPercentage: 100 } })),
    ).rejects.toThrow('MaxHealthyPercentage must be greater than 100 when MinHealthyPercentage is 100');
    await clients.ec2.send(new CreateLaunchTemplateVersionCommand({ LaunchTemplateId: lt, SourceVersion: '1', LaunchTemplateData: { ImageId: 'resolve:ssm:/herd/shop/staging/current-image' } }));
    await expect(
      clients.autoScaling.send(
        new StartInstanceRefreshCommand({
          AutoScalingGroupName: 'herd-staging-web',
          DesiredConfiguration: { LaunchTemplate: { LaunchTemplateId: lt, Version: '2' } },
          Preferences: { AutoRollback: true, MinHealthyPercentage: 100, MaxHealthyPercentage: 150 },
        }),
      ),
    ).rejects.toThrow('AutoRollback is not supported when the launch template resolves its AMI from an SSM parameter');
    const ok = { AutoScalingGroupName: 'herd-staging-web', Preferences: { MinHealthyPercentage: 100, MaxHealthyPercentage: 150 } };
    await clients.autoScaling.send(new StartInstanceRefreshCommand(ok));
    await expect(clients.autoScaling.send(new StartInstanceRefreshCommand(ok))).rejects.toThrow(
      'An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.',
    );
  });

  test('fails when a conditional write finds its condition false', async () => {
    const { clients, env } = world();
    const put = new PutCommand({ TableName: env.tableName, Item: { pk: 'LOCK', sk: 'LOCK', deployId: 'a' }, ConditionExpression: 'attribute_not_exists(pk)' });
    await clients.dynamodb.send(put);
    await expect(clients.dynamodb.send(put)).rejects.toThrow('The conditional request failed');
  });

  test('RunInstances with the same client token returns the same instance', async () => {
    const { clients, env } = world();
    const input = { ImageId: env.instances.builderImageId, InstanceType: 't3.small' as const, MinCount: 1, MaxCount: 1, ClientToken: 'deploy-1-builder' };
    const a = await clients.ec2.send(new RunInstancesCommand(input));
    const b = await clients.ec2.send(new RunInstancesCommand(input));
    expect(b.Instances?.[0]?.InstanceId).toBe(a.Instances?.[0]?.InstanceId);
  });

  test('a group replaces an instance that dies, and the target turns healthy after boot + one health check', () => {
    const { cloud } = world();
    const group = cloud.groups.get('herd-staging-web');
    const victim = group?.instances[0]?.id ?? '';
    const instance = cloud.instances.get(victim);
    if (instance) instance.state = 'terminated';
    cloud.advance(1);
    expect(group?.instances.filter((i) => i.lifecycle === 'Pending')).toHaveLength(1);
    const fresh = group?.instances.find((i) => i.lifecycle === 'Pending')?.id ?? '';
    cloud.advance(cloud.timings.bootSeconds);
    expect(cloud.targetGroups.get(cloud.groups.get('herd-staging-web')?.targetGroupArn ?? '')?.get(fresh)?.state).toBe('initial');
    cloud.advance(cloud.timings.appStartSeconds + cloud.timings.healthCheckIntervalSeconds);
    expect(cloud.healthyServing('herd-staging-web')).toContain(fresh);
  });
});
