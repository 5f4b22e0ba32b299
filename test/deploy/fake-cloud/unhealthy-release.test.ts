/**
 * What the fake shows of a release that never turns healthy, as AWS would: DescribeTargetHealth's
 * reason and description, the boot log the CloudWatch agent ships (GetLogEvents), and an
 * instance refresh that is not `Successful` while its failing replacements leave the group
 * below its desired capacity.
 */
import { DescribeAutoScalingGroupsCommand, DescribeInstanceRefreshesCommand, StartInstanceRefreshCommand } from '@aws-sdk/client-auto-scaling';
import { GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { CreateLaunchTemplateVersionCommand } from '@aws-sdk/client-ec2';
import { DescribeTargetHealthCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { createWorld } from '../../../lib/simulation/world';

function world(reason?: 'Target.Timeout') {
  const w = createWorld({ web: 1, serving: 'r1', baked: ['r2'], consistency: { maxLagSeconds: 0 }, releases: { r2: { neverHealthy: true, ...(reason ? { unhealthyReason: reason } : {}) } } });
  return { ...w, clients: w.cloud.clients() };
}

/** Starts a refresh of the web group to a new launch-template version running r2 (launch before terminate). */
async function refreshToR2(w: ReturnType<typeof world>): Promise<string> {
  const fleet = w.env.fleets.web;
  const version = await w.clients.ec2.send(new CreateLaunchTemplateVersionCommand({ LaunchTemplateId: fleet.launchTemplateId, SourceVersion: '1', LaunchTemplateData: { ImageId: w.images.r2 } }));
  const res = await w.clients.autoScaling.send(new StartInstanceRefreshCommand({
    AutoScalingGroupName: fleet.autoScalingGroupName,
    DesiredConfiguration: { LaunchTemplate: { LaunchTemplateId: fleet.launchTemplateId, Version: String(version.LaunchTemplateVersion?.VersionNumber) } },
    Preferences: { MinHealthyPercentage: 100, MaxHealthyPercentage: 200, InstanceWarmup: 30, SkipMatching: true },
  }));
  return res.InstanceRefreshId!;
}

describe('a release that never turns healthy', () => {
  test('its targets are unhealthy with Target.ResponseCodeMismatch (502) by default, or the release\'s reason', async () => {
    for (const [reason, description] of [[undefined, 'Health checks failed with these codes: [502]'], ['Target.Timeout', 'Request timed out']] as const) {
      const w = world(reason);
      await refreshToR2(w);
      w.cloud.advance(70);
      const health = await w.clients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: w.env.loadBalancer.targetGroupArn }));
      const states = (health.TargetHealthDescriptions ?? []).map((t) => t.TargetHealth);
      expect(states).toContainEqual({ State: 'healthy' });
      expect(states).toContainEqual({ State: 'unhealthy', Reason: reason ?? 'Target.ResponseCodeMismatch', Description: description });
    }
  });

  test('a new target reads Elb.RegistrationInProgress until its first checks', async () => {
    const w = world();
    await refreshToR2(w);
    w.cloud.advance(40);
    const health = await w.clients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: w.env.loadBalancer.targetGroupArn }));
    expect((health.TargetHealthDescriptions ?? []).map((t) => t.TargetHealth)).toContainEqual({ State: 'initial', Reason: 'Elb.RegistrationInProgress', Description: 'Target registration is in progress' });
  });

  test('each instance\'s boot log is in /herd/<app>/<env>/boot under its id; GetLogEvents gives the newest lines, oldest first', async () => {
    const w = world();
    await refreshToR2(w);
    w.cloud.advance(40);
    const group = (await w.clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [w.env.fleets.web.autoScalingGroupName] }))).AutoScalingGroups![0]!;
    const id = group.Instances!.find((i) => i.LaunchTemplate?.Version !== '1')!.InstanceId!;
    const group$ = `/herd/${w.env.app}/${w.env.env}/boot`;
    const tail = await w.clients.logs.send(new GetLogEventsCommand({ logGroupName: group$, logStreamName: id, limit: 2 }));
    expect(tail.events?.map((e) => e.message)).toEqual(['web: [ERROR] Worker failed to boot.', 'nginx: upstream prematurely closed connection while reading response header from upstream (502)']);
    const head = await w.clients.logs.send(new GetLogEventsCommand({ logGroupName: group$, logStreamName: id, limit: 1, startFromHead: true }));
    expect(head.events?.[0]?.message).toMatch(/^herd-boot: configuring /);
    await expect(w.clients.logs.send(new GetLogEventsCommand({ logGroupName: group$, logStreamName: 'i-0000000000000dead' }))).rejects.toThrow(expect.objectContaining({ name: 'ResourceNotFoundException' }));
    await expect(w.clients.logs.send(new GetLogEventsCommand({ logGroupName: '/herd/nope', logStreamName: id }))).rejects.toThrow(expect.objectContaining({ name: 'ResourceNotFoundException' }));
    await expect(w.clients.logs.send(new GetLogEventsCommand({ logGroupName: group$, logStreamName: id, limit: 10_001 }))).rejects.toThrow(expect.objectContaining({ name: 'InvalidParameterException' }));
  });

  test('the refresh stays InProgress while its replacements fail, even once the only old instance is gone', async () => {
    const w = world();
    const id = await refreshToR2(w);
    w.cloud.advance(20);
    // The only r1 instance dies: its slot goes to the failing replacement.
    const group = w.cloud.groups.get(w.env.fleets.web.autoScalingGroupName)!;
    const old = group.instances.find((i) => i.ltVersion === '1')!;
    w.cloud.instances.get(old.id)!.state = 'shutting-down';
    for (let minute = 0; minute < 30; minute++) {
      w.cloud.advance(60);
      const r = (await w.clients.autoScaling.send(new DescribeInstanceRefreshesCommand({ AutoScalingGroupName: group.name, InstanceRefreshIds: [id] }))).InstanceRefreshes![0]!;
      expect(r.Status).toBe('InProgress');
    }
    expect(group.ltVersion).toBe('1');
  });
});
