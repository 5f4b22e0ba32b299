/** The fake cloud rejects what AWS rejects, and its processes follow the virtual clock. */
import { DescribeAutoScalingGroupsCommand, StartInstanceRefreshCommand, UpdateAutoScalingGroupCommand } from '@aws-sdk/client-auto-scaling';
import { CreateImageCommand, CreateLaunchTemplateVersionCommand, DeregisterImageCommand, DescribeLaunchTemplatesCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateRuleCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { provisionHash } from '../../../lib/simulation/provision';
import { TAGS, parameterNames } from '../../../lib/names';
import { createWorld } from '../../../lib/simulation/world';

function world() {
  const w = createWorld({ web: 2, worker: 1, serving: 'r1', consistency: { maxLagSeconds: 0 } });
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
    ).rejects.toThrow('AutoRollback is not supported when the launch template (desired version 2) uses an SSM parameter instead of an AMI ID for its image');
    const ok = { AutoScalingGroupName: 'herd-staging-web', Preferences: { MinHealthyPercentage: 100, MaxHealthyPercentage: 150 } };
    await clients.autoScaling.send(new StartInstanceRefreshCommand(ok));
    await expect(clients.autoScaling.send(new StartInstanceRefreshCommand(ok))).rejects.toThrow(
      'An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.',
    );
  });

  test('validates an aws:ec2:image parameter asynchronously, as SSM does, and drops a write whose image is unusable', async () => {
    const { clients, cloud, images } = world();
    const name = parameterNames('shop', 'staging').currentImage;
    const before = cloud.parameters.get(name);
    await clients.ssm.send(new PutParameterCommand({ Name: name, Value: images.r1, Type: 'String', DataType: 'aws:ec2:image', Overwrite: true }));
    await clients.ssm.send(new PutParameterCommand({ Name: '/herd/shop/staging/other-image', Value: images.r1, Type: 'String', DataType: 'aws:ec2:image' }));
    // A 200, but nothing readable yet.
    await expect(clients.ssm.send(new GetParameterCommand({ Name: '/herd/shop/staging/other-image' }))).rejects.toThrow('Parameter /herd/shop/staging/other-image not found.');
    cloud.advance(cloud.timings.imageParameterSeconds);
    expect((await clients.ssm.send(new GetParameterCommand({ Name: '/herd/shop/staging/other-image' }))).Parameter?.Value).toBe(images.r1);
    expect(cloud.parameters.get(name)).toBe(images.r1);
    await clients.ssm.send(new PutParameterCommand({ Name: name, Value: 'ami-0000000000000dead', Type: 'String', DataType: 'aws:ec2:image', Overwrite: true }));
    cloud.advance(cloud.timings.imageParameterSeconds);
    expect(cloud.parameters.get(name)).toBe(images.r1);
    expect(cloud.violations).toEqual([`SSM dropped the aws:ec2:image write of ami-0000000000000dead to ${name}: the image is not available`]);
    void before;
  });

  test('resolves a resolve:ssm: image when an instance launches, and refuses an image of another architecture', async () => {
    const { clients, cloud, baseImage } = world();
    const res = await clients.ec2.send(new RunInstancesCommand({
      ImageId: 'resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64', InstanceType: 't3.small', MinCount: 1, MaxCount: 1,
    }));
    expect(res.Instances?.[0]?.ImageId).toBe(baseImage);
    await expect(clients.ec2.send(new RunInstancesCommand({ ImageId: baseImage, InstanceType: 't4g.small', MinCount: 1, MaxCount: 1 }))).rejects.toThrow(
      "The architecture 'arm64' of the specified instance type does not match the architecture 'x86_64' of the specified AMI.",
    );
    await expect(clients.ec2.send(new RunInstancesCommand({
      ImageId: 'resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64', InstanceType: 't4g.small', MinCount: 1, MaxCount: 1,
    }))).rejects.toThrow('The SSM parameter /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64 does not exist');
    void cloud;
  });

  test('refuses to change a group\'s launch template while an instance refresh with a desired configuration runs', async () => {
    const { clients, env } = world();
    const lt = env.fleets.web.launchTemplateId;
    await clients.ec2.send(new CreateLaunchTemplateVersionCommand({ LaunchTemplateId: lt, SourceVersion: '1', LaunchTemplateData: {} }));
    await clients.autoScaling.send(new StartInstanceRefreshCommand({
      AutoScalingGroupName: 'herd-staging-web', DesiredConfiguration: { LaunchTemplate: { LaunchTemplateId: lt, Version: '2' } }, Preferences: { MinHealthyPercentage: 100, MaxHealthyPercentage: 150 },
    }));
    await expect(clients.autoScaling.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: 'herd-staging-web', LaunchTemplate: { LaunchTemplateId: lt, Version: '2' } }))).rejects.toThrow(
      /^An active instance refresh with a desired configuration exists/,
    );
    // Sizes may still change.
    await clients.autoScaling.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: 'herd-staging-web', MaxSize: 5 }));
  });

  test('describes the environment\'s stack, and fails for a stack that does not exist', async () => {
    const { clients } = world();
    expect((await clients.cloudFormation.send(new DescribeStacksCommand({ StackName: 'herd-staging' }))).Stacks?.[0]?.StackStatus).toBe('UPDATE_COMPLETE');
    await expect(clients.cloudFormation.send(new DescribeStacksCommand({ StackName: 'herd-nowhere' }))).rejects.toThrow('Stack with id herd-nowhere does not exist');
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

  test('RunInstances from a launch template keeps its instance profile unless the request overrides it', async () => {
    const { clients, cloud, env } = world();
    const lt = { LaunchTemplateId: env.fleets.web.launchTemplateId, Version: '1' };
    const webProfile = cloud.launchTemplates.get(lt.LaunchTemplateId)?.versions[0]?.instanceProfileArn;
    expect(webProfile).toBe('arn:aws:iam::123456789012:instance-profile/herd-staging-web');
    const plain = await clients.ec2.send(new RunInstancesCommand({ LaunchTemplate: lt, MinCount: 1, MaxCount: 1 }));
    expect(plain.Instances?.[0]?.IamInstanceProfile).toEqual({ Arn: webProfile });
    const runner = await clients.ec2.send(
      new RunInstancesCommand({ LaunchTemplate: lt, IamInstanceProfile: { Arn: env.instances.runnerInstanceProfileArn }, MinCount: 1, MaxCount: 1 }),
    );
    const id = runner.Instances?.[0]?.InstanceId ?? '';
    expect(runner.Instances?.[0]?.IamInstanceProfile).toEqual({ Arn: env.instances.runnerInstanceProfileArn });
    expect(cloud.instances.get(id)?.instanceProfileArn).toBe(env.instances.runnerInstanceProfileArn);
    // A new version from the source keeps the profile.
    const v2 = await clients.ec2.send(new CreateLaunchTemplateVersionCommand({ LaunchTemplateId: lt.LaunchTemplateId, SourceVersion: '1', LaunchTemplateData: { ImageId: 'ami-0123456789abcdef0' } }));
    expect(cloud.launchTemplates.get(lt.LaunchTemplateId)?.versions[(v2.LaunchTemplateVersion?.VersionNumber ?? 0) - 1]?.instanceProfileArn).toBe(webProfile);
    // An empty IamInstanceProfile never reaches EC2: the SDK writes no key for a structure with no member set.
    const empty = await clients.ec2.send(new RunInstancesCommand({ LaunchTemplate: lt, IamInstanceProfile: {}, MinCount: 1, MaxCount: 1 }));
    expect(empty.Instances?.[0]?.IamInstanceProfile).toEqual({ Arn: webProfile });
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

  describe('builders (shutdown behaviour stop)', () => {
    const builderInput = (env: ReturnType<typeof world>['env'], userData: string, tags: Record<string, string> = {}) => ({
      ImageId: env.instances.builderImageId,
      InstanceType: 't3.small' as const,
      MinCount: 1,
      MaxCount: 1,
      InstanceInitiatedShutdownBehavior: 'stop' as const,
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 20, VolumeType: 'gp3' as const, Encrypted: true } }],
      UserData: Buffer.from(userData).toString('base64'),
      TagSpecifications: [{ ResourceType: 'instance' as const, Tags: Object.entries({ [TAGS.role]: 'builder', [TAGS.release]: 'r2', ...tags }).map(([Key, Value]) => ({ Key, Value })) }],
    });

    test('layers: a base reports after boot + provisioning with no process; a release layer on plain Amazon Linux is refused (exit 3) and recorded as a broken promise', async () => {
      const { cloud, clients, env } = world();
      const hash = provisionHash({});
      const base = await clients.ec2.send(new RunInstancesCommand(builderInput(env, `exec herd-bake.sh --report '/herd/shop/staging/bake-runs/' --layer base --provision '${hash}'\n`)));
      const baseId = base.Instances?.[0]?.InstanceId ?? '';
      cloud.advance(cloud.timings.bootSeconds + cloud.timings.provisionSeconds - 1);
      expect(cloud.parameters.has(`/herd/shop/staging/bake-runs/${baseId}`)).toBe(false);
      cloud.advance(1);
      expect(JSON.parse(cloud.parameters.get(`/herd/shop/staging/bake-runs/${baseId}`) ?? '{}')).toEqual({ exitCode: 0, logTail: 'bake complete' });
      expect(cloud.violations).toEqual([]);
      const release = await clients.ec2.send(new RunInstancesCommand(builderInput(env, `exec herd-bake.sh --report '/herd/shop/staging/bake-runs/' --layer release --provision '${hash}'\n`)));
      const releaseId = release.Instances?.[0]?.InstanceId ?? '';
      cloud.advance(cloud.timings.bakeSeconds);
      expect(JSON.parse(cloud.parameters.get(`/herd/shop/staging/bake-runs/${releaseId}`) ?? '{}')).toMatchObject({ exitCode: 3, logTail: expect.stringContaining('not a herd base image') });
      expect(cloud.violations).toEqual([expect.stringContaining(`builder ${releaseId} bakes a release layer on`)]);
    });

    test('a builder reports, then goes stopping → stopped; CreateImage of it does not reboot it', async () => {
      const { cloud, clients, env } = world();
      const res = await clients.ec2.send(new RunInstancesCommand(builderInput(env, "exec herd-bake.sh --report '/herd/shop/staging/bake-runs/'\n")));
      const id = res.Instances?.[0]?.InstanceId ?? '';
      // No --layer: a bake in one go from Amazon Linux, provisioning included.
      cloud.advance(cloud.timings.bakeSeconds + cloud.timings.provisionSeconds);
      expect(cloud.parameters.has(`/herd/shop/staging/bake-runs/${id}`)).toBe(true);
      expect(cloud.instances.get(id)?.state).toBe('stopping');
      cloud.advance(cloud.timings.shutdownSeconds);
      expect(cloud.instances.get(id)?.state).toBe('stopped');
      await clients.ec2.send(new CreateImageCommand({ InstanceId: id, Name: 'herd-shop-r2-deploy-1' }));
      expect(cloud.instances.get(id)?.reboots ?? 0).toBe(0);
      expect(cloud.violations).toEqual([]);
    });

    test('CreateImage of a running instance without NoReboot reboots it', async () => {
      const { cloud, clients, env } = world();
      const res = await clients.ec2.send(new RunInstancesCommand(builderInput(env, '')));
      const id = res.Instances?.[0]?.InstanceId ?? '';
      cloud.advance(cloud.timings.bootSeconds);
      await clients.ec2.send(new CreateImageCommand({ InstanceId: id, Name: 'herd-shop-r2-deploy-1' }));
      expect(cloud.instances.get(id)?.reboots).toBe(1);
    });

    test('the watchdog powers off a builder whose bake hangs', async () => {
      const { cloud, env } = createWorld({ web: 1, serving: 'r1', timings: { bakeSeconds: 3600 } });
      const clients = cloud.clients();
      const res = await clients.ec2.send(new RunInstancesCommand(builderInput(env, "#!/bin/bash\nshutdown -h +2 'herd builder watchdog'\n")));
      const id = res.Instances?.[0]?.InstanceId ?? '';
      cloud.advance(119);
      expect(cloud.instances.get(id)?.state).toBe('running');
      cloud.advance(1 + cloud.timings.shutdownSeconds);
      expect(cloud.instances.get(id)?.state).toBe('stopped');
      expect([...cloud.parameters.keys()].filter((k) => k.includes('bake-runs'))).toEqual([]);
    });

    test('a builder launched with shutdown behaviour terminate, or an unencrypted root volume, is a violation', async () => {
      const { cloud, clients, env } = world();
      await clients.ec2.send(new RunInstancesCommand({ ...builderInput(env, ''), InstanceInitiatedShutdownBehavior: 'terminate', BlockDeviceMappings: [] }));
      expect(cloud.violations).toEqual([
        'builder launched with shutdown behaviour terminate: powering off after its bake would destroy it before it is imaged',
        'builder launched without an encrypted root volume (/dev/xvda)',
      ]);
    });
  });

  describe('launch templates and groups of the app, across environments', () => {
    const promoted = () => {
      const w = createWorld({ web: 1, serving: 'r2', baked: ['r1'], peers: [{ env: 'production', serving: 'r1' }] });
      return { ...w, clients: w.cloud.clients() };
    };

    test('DescribeLaunchTemplates filters by tag and id, and pages', async () => {
      const { clients, env } = promoted();
      const all = await clients.ec2.send(new DescribeLaunchTemplatesCommand({ Filters: [{ Name: `tag:${TAGS.app}`, Values: ['shop'] }] }));
      expect(all.LaunchTemplates).toHaveLength(2);
      const production = await clients.ec2.send(new DescribeLaunchTemplatesCommand({ Filters: [{ Name: `tag:${TAGS.environment}`, Values: ['production'] }] }));
      expect(production.LaunchTemplates?.map((t) => t.Tags?.find((x) => x.Key === TAGS.environment)?.Value)).toEqual(['production']);
      const byId = await clients.ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: [env.fleets.web.launchTemplateId] }));
      expect(byId.LaunchTemplates?.map((t) => t.LaunchTemplateId)).toEqual([env.fleets.web.launchTemplateId]);
      const first = await clients.ec2.send(new DescribeLaunchTemplatesCommand({ Filters: [{ Name: `tag:${TAGS.app}`, Values: ['shop'] }], MaxResults: 1 }));
      expect(first.LaunchTemplates).toHaveLength(1);
      const second = await clients.ec2.send(new DescribeLaunchTemplatesCommand({ Filters: [{ Name: `tag:${TAGS.app}`, Values: ['shop'] }], MaxResults: 1, NextToken: first.NextToken }));
      expect(second.LaunchTemplates).toHaveLength(1);
      expect(second.NextToken).toBeUndefined();
      expect(second.LaunchTemplates?.[0]?.LaunchTemplateId).not.toBe(first.LaunchTemplates?.[0]?.LaunchTemplateId);
    });

    test('fails when DescribeLaunchTemplates gets an unknown id, an unknown filter, or MaxResults with ids', async () => {
      const { clients, env } = promoted();
      await expect(clients.ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: ['lt-0123456789abcdef0'] }))).rejects.toThrow(
        'At least one of the launch templates specified in the request does not exist.',
      );
      await expect(clients.ec2.send(new DescribeLaunchTemplatesCommand({ Filters: [{ Name: 'image-id', Values: ['ami-1'] }] }))).rejects.toThrow("The filter 'image-id' is invalid");
      await expect(clients.ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: [env.fleets.web.launchTemplateId], MaxResults: 5 }))).rejects.toThrow(
        'The parameter MaxResults cannot be used with the parameter LaunchTemplateIds or LaunchTemplateNames',
      );
    });

    test('DescribeAutoScalingGroups filters by tag; fails when a filter is not supported', async () => {
      const { clients } = promoted();
      const res = await clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ Filters: [{ Name: `tag:${TAGS.app}`, Values: ['shop'] }] }));
      expect(res.AutoScalingGroups?.map((g) => g.AutoScalingGroupName).sort()).toEqual(['herd-production-web', 'herd-staging-web']);
      const production = await clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ Filters: [{ Name: `tag:${TAGS.environment}`, Values: ['production'] }] }));
      expect(production.AutoScalingGroups?.map((g) => [g.AutoScalingGroupName, g.DesiredCapacity])).toEqual([['herd-production-web', 0]]);
      await expect(clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ Filters: [{ Name: 'instance-id', Values: ['i-1'] }] }))).rejects.toThrow(
        'Filter name instance-id is not supported',
      );
    });

    test('fails to launch from a deregistered image: the peer group records a violation and launches nothing', async () => {
      const { cloud, clients, images } = promoted();
      await clients.ec2.send(new DeregisterImageCommand({ ImageId: images.r1 }));
      expect(cloud.violations).toEqual([
        `deregistered ${images.r1} used by herd-production-web's launch template version 1`,
        `deregistered ${images.r1}, the current image of production`,
      ]);
      await clients.autoScaling.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: 'herd-production-web', MinSize: 1, DesiredCapacity: 1 }));
      cloud.advance(60);
      expect(cloud.groups.get('herd-production-web')?.instances).toEqual([]);
      expect(cloud.violations.slice(2)).toEqual([`herd-production-web cannot launch: image ${images.r1} of its launch template version 1 is not available`]);
    });
  });
});
