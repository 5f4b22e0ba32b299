import { Match, Template } from 'aws-cdk-lib/assertions';
import type { HerdSettings } from '../../lib/config/types';
import { estimateMonthlyCost } from '../../lib/cost/estimate';
import { freeStorageThresholdGiB } from '../../lib/database-alarms';
import { buildApp, SynthesizedApp } from '../support/app';

/**
 * Observability and log retention of the synthesized environments (issue #15, items 6–9):
 * database monitoring and log exports, alarms beyond the load balancer, the dashboard,
 * egress and interface endpoints, and every log group's retention. One app of the default
 * configuration (testing: `small`, production: `production`) and one of variants.
 */

type Resource = { Type: string; Properties?: Record<string, any>; DependsOn?: string[] };
type Resources = Record<string, Resource>;

let built: SynthesizedApp;
let variants: SynthesizedApp;

/** Variants the default configuration does not cover: a non-burstable database, no endpoints in production. */
const VARIANTS: HerdSettings = {
  app: 'mootube',
  environments: [
    {
      name: 'locked',
      profile: 'production',
      allowPlainHttp: { reason: 'a template-only variant: TLS is not what this test looks at' },
      network: { cidr: '10.40.0.0/16', interfaceEndpoints: false },
      database: { instanceType: 'm7g.large', enhancedMonitoringSeconds: 15, performanceInsights: false },
      alarms: { databaseCpuPercent: 70, databaseConnections: 500, cacheEvictions: 5 },
    },
  ],
};

beforeAll(() => {
  built = buildApp();
  variants = buildApp(VARIANTS);
});

const resources = (t: Template, type: string): Resources => t.findResources(type) as Resources;
const config = (env: string) => built.config.environments.find((e) => e.name === env)!;
const only = (r: Resources): [string, Resource] => {
  const entries = Object.entries(r);
  expect(entries).toHaveLength(1);
  return entries[0]!;
};

/** The environment's alarms whose logical id starts with `prefix`, by logical id. */
function alarmsUnder(t: Template, prefix: string): Resources {
  return Object.fromEntries(Object.entries(resources(t, 'AWS::CloudWatch::Alarm')).filter(([id]) => id.startsWith(prefix)));
}

function topicRef(t: Template): { Ref: string } {
  const [topicId] = only(resources(t, 'AWS::SNS::Topic'));
  return { Ref: topicId };
}

describe.each(['testing', 'production'] as const)('the %s environment', (env) => {
  let t: Template;
  beforeAll(() => {
    t = built.template(env);
  });
  const production = env === 'production';

  describe('database', () => {
    test('exports every PostgreSQL log to a group created beforehand with the environment\'s retention', () => {
      const [dbId, db] = only(resources(t, 'AWS::RDS::DBInstance'));
      expect(db.Properties!.EnableCloudwatchLogsExports).toEqual(['postgresql', 'upgrade']);
      for (const type of ['postgresql', 'upgrade']) {
        const groups = t.findResources('AWS::Logs::LogGroup', { Properties: { LogGroupName: `/aws/rds/instance/herd-mootube-${env}/${type}` } }) as Resources;
        const [groupId, group] = only(groups);
        expect(group.Properties!.RetentionInDays).toBe(config(env).logRetentionDays);
        expect(resources(t, 'AWS::RDS::DBInstance')[dbId]!.DependsOn).toContain(groupId);
      }
    });

    test(`has Enhanced Monitoring and Performance Insights ${production ? 'on' : 'off'}`, () => {
      const [, db] = only(resources(t, 'AWS::RDS::DBInstance'));
      if (production) {
        expect(db.Properties).toMatchObject({ MonitoringInterval: 60, EnablePerformanceInsights: true, PerformanceInsightsRetentionPeriod: 7 });
        expect(db.Properties!.MonitoringRoleArn).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^DatabaseInstanceMonitoringRole/), 'Arn'] });
        t.hasResourceProperties('AWS::IAM::Role', {
          AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'monitoring.rds.amazonaws.com' } })] },
        });
      } else {
        expect(db.Properties!.MonitoringInterval).toBeUndefined();
        expect(db.Properties!.EnablePerformanceInsights).toBe(false);
      }
    });
  });

  describe('egress', () => {
    /** CDK's placeholder rule for a security group without egress (it matches no traffic). */
    const NO_EGRESS = [{ CidrIp: '255.255.255.255/32', Description: 'Disallow all traffic', FromPort: 252, IpProtocol: 'icmp', ToPort: 86 }];

    test('the database and the cache have security groups with no egress', () => {
      const [, db] = only(resources(t, 'AWS::RDS::DBInstance'));
      const [, cache] = only(resources(t, 'AWS::ElastiCache::ReplicationGroup'));
      const groups = resources(t, 'AWS::EC2::SecurityGroup');
      for (const refs of [db.Properties!.VPCSecurityGroups, cache.Properties!.SecurityGroupIds] as { 'Fn::GetAtt': [string, string] }[][]) {
        expect(refs).toHaveLength(1);
        const sg = groups[refs[0]!['Fn::GetAtt'][0]]!;
        expect(sg.Properties!.SecurityGroupEgress).toEqual(NO_EGRESS);
      }
      expect(Object.keys(resources(t, 'AWS::EC2::SecurityGroupEgress')).filter((id) => /^(Database|Cache)/.test(id))).toEqual([]);
    });
  });

  describe('interface endpoints', () => {
    const SERVICES = ['ssm', 'ssmmessages', 'ec2messages', 'secretsmanager', 'logs'];

    test(production ? 'reach SSM, Session Manager, Secrets Manager and CloudWatch Logs from the private subnets, HTTPS from the VPC only' : 'are off (they cost per AZ-hour)', () => {
      const endpoints = Object.values(resources(t, 'AWS::EC2::VPCEndpoint')).filter((e) => e.Properties!.VpcEndpointType === 'Interface');
      if (!production) {
        expect(endpoints).toEqual([]);
        return;
      }
      const services = endpoints.map((e) => JSON.stringify(e.Properties!.ServiceName));
      for (const service of SERVICES) expect(services).toContainEqual(expect.stringMatching(new RegExp(`\\.${service}"`)));
      expect(endpoints).toHaveLength(SERVICES.length);
      const groups = resources(t, 'AWS::EC2::SecurityGroup');
      for (const e of endpoints) {
        expect(e.Properties!.PrivateDnsEnabled).toBe(true);
        expect((e.Properties!.SubnetIds as { Ref: string }[]).map((s) => s.Ref)).toEqual([expect.stringMatching(/^NetworkVpcPrivateSubnet1/), expect.stringMatching(/^NetworkVpcPrivateSubnet2/)]);
        const [sg] = e.Properties!.SecurityGroupIds as { 'Fn::GetAtt': [string, string] }[];
        const group = groups[sg!['Fn::GetAtt'][0]]!;
        expect(group.Properties!.SecurityGroupIngress).toEqual([expect.objectContaining({ CidrIp: config(env).network.cidr, FromPort: 443, ToPort: 443, IpProtocol: 'tcp' })]);
        expect(group.Properties!.SecurityGroupEgress).toEqual([expect.objectContaining({ Description: 'Disallow all traffic' })]);
      }
    });

    test('are counted in the cost estimate, per endpoint and AZ', () => {
      const line = estimateMonthlyCost(t.toJSON()).lines.find((l) => l.item === 'interface endpoints');
      if (production) expect(line).toMatchObject({ what: `${SERVICES.length} (${SERVICES.length * 2} endpoint-AZs)` });
      else expect(line).toBeUndefined();
    });
  });

  describe('alarms beyond the load balancer', () => {
    const actionsOf = (a: Resource) => ({ alarm: a.Properties!.AlarmActions, ok: a.Properties!.OKActions });

    test('every alarm of the environment notifies the topic when it fires and when it clears', () => {
      const topic = topicRef(t);
      for (const alarm of Object.values(resources(t, 'AWS::CloudWatch::Alarm'))) expect(actionsOf(alarm)).toEqual({ alarm: [topic], ok: [topic] });
    });

    test('only the 5xx alarm rolls a deploy back', () => {
      // One alarm: CDK folds the join to the alarm's name.
      expect(t.findOutputs('RollbackAlarms').RollbackAlarms!.Value).toEqual({ Ref: expect.stringMatching(/^LoadBalancerTarget5xx/) });
    });

    test('database: CPU, CPU credits (burstable db.t4g), free storage against the autoscaling ceiling, connections; no replica lag', () => {
      const a = config(env).alarms;
      const [dbId] = only(resources(t, 'AWS::RDS::DBInstance'));
      const dimensions = [{ Name: 'DBInstanceIdentifier', Value: { Ref: dbId } }];
      const expected = [
        { MetricName: 'CPUUtilization', Statistic: 'Average', Threshold: a.databaseCpuPercent, ComparisonOperator: 'GreaterThanThreshold' },
        { MetricName: 'CPUCreditBalance', Statistic: 'Minimum', Threshold: a.databaseCpuCreditBalance, ComparisonOperator: 'LessThanThreshold' },
        { MetricName: 'FreeStorageSpace', Statistic: 'Minimum', Threshold: Math.round(freeStorageThresholdGiB(config(env).database, a) * 1024 ** 3), ComparisonOperator: 'LessThanThreshold' },
        { MetricName: 'DatabaseConnections', Statistic: 'Maximum', Threshold: a.databaseConnections, ComparisonOperator: 'GreaterThanThreshold' },
      ];
      const alarms = Object.values(alarmsUnder(t, 'DatabaseAlarms')).map((x) => x.Properties!);
      expect(alarms.map((x) => ({ MetricName: x.MetricName, Statistic: x.Statistic, Threshold: x.Threshold, ComparisonOperator: x.ComparisonOperator }))).toEqual(expected);
      for (const x of alarms) expect(x).toMatchObject({ Namespace: 'AWS/RDS', Dimensions: dimensions, Period: 300 });
      expect(alarms.map((x) => x.MetricName)).not.toContain('ReplicaLag');
    });

    test('free storage: the threshold is never above what autoscaling keeps free at the initial size', () => {
      const d = config(env).database;
      const gib = freeStorageThresholdGiB(d, config(env).alarms);
      expect(gib).toBeGreaterThan(0);
      expect(gib).toBeLessThan(d.allocatedStorageGiB * 0.1);
      expect(gib).toBeLessThanOrEqual(d.maxAllocatedStorageGiB * config(env).alarms.databaseFreeStoragePercent / 100);
    });

    test('cache: memory, engine CPU and evictions of every node (primary and replicas)', () => {
      const a = config(env).alarms;
      const [rgId] = only(resources(t, 'AWS::ElastiCache::ReplicationGroup'));
      const nodes = 1 + config(env).cache.replicas;
      const alarms = Object.values(alarmsUnder(t, 'CacheAlarms')).map((x) => x.Properties!);
      expect(alarms).toHaveLength(3 * nodes);
      for (let n = 1; n <= nodes; n++) {
        const dimensions = [{ Name: 'CacheClusterId', Value: { 'Fn::Join': ['-', [{ Ref: rgId }, String(n).padStart(3, '0')]] } }];
        for (const [metric, threshold] of [['DatabaseMemoryUsagePercentage', a.cacheMemoryPercent], ['EngineCPUUtilization', a.cacheCpuPercent], ['Evictions', a.cacheEvictions]] as const) {
          expect(alarms).toContainEqual(expect.objectContaining({ Namespace: 'AWS/ElastiCache', MetricName: metric, Dimensions: dimensions, Threshold: threshold, ComparisonOperator: 'GreaterThanThreshold' }));
        }
      }
    });

    test('NAT gateways: port allocation errors and dropped packets, per gateway', () => {
      const nats = Object.keys(resources(t, 'AWS::EC2::NatGateway'));
      expect(nats).toHaveLength(config(env).network.natGateways);
      const alarms = Object.values(alarmsUnder(t, 'NetworkAlarms')).map((x) => x.Properties!);
      expect(alarms).toHaveLength(2 * nats.length);
      for (const nat of nats) {
        const dimensions = [{ Name: 'NatGatewayId', Value: { Ref: nat } }];
        expect(alarms).toContainEqual(expect.objectContaining({ Namespace: 'AWS/NATGateway', MetricName: 'ErrorPortAllocation', Dimensions: dimensions, Statistic: 'Sum', Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' }));
        expect(alarms).toContainEqual(expect.objectContaining({ Namespace: 'AWS/NATGateway', MetricName: 'PacketsDropCount', Dimensions: dimensions, Statistic: 'Sum', Threshold: config(env).alarms.natPacketsDropped }));
      }
    });

    test('the deploy state machine: any failed or timed-out execution, naming the state machine', () => {
      const [smId] = only(resources(t, 'AWS::StepFunctions::StateMachine'));
      const alarms = Object.values(alarmsUnder(t, 'DeployAlarms')).map((x) => x.Properties!);
      expect(alarms.map((x) => x.MetricName).sort()).toEqual(['ExecutionsFailed', 'ExecutionsTimedOut']);
      for (const x of alarms) {
        expect(x).toMatchObject({ Namespace: 'AWS/States', Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: smId } }], Statistic: 'Sum', Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
      }
    });
  });

  describe('dashboard', () => {
    test('is named herd-<app>-<env> and shows traffic, errors, latency, fleets, database and cache', () => {
      const [, dashboard] = only(resources(t, 'AWS::CloudWatch::Dashboard'));
      expect(dashboard.Properties!.DashboardName).toBe(`herd-mootube-${env}`);
      const body = JSON.stringify(dashboard.Properties!.DashboardBody);
      for (const metric of [
        'RequestCount', 'HTTPCode_Target_4XX_Count', 'HTTPCode_Target_5XX_Count', 'TargetResponseTime', '\\"p50\\"', '\\"p99\\"',
        'GroupInServiceInstances', 'CPUUtilization',
        'DatabaseConnections', 'FreeStorageSpace', 'ReadLatency', 'WriteLatency',
        'DatabaseMemoryUsagePercentage', 'EngineCPUUtilization', 'Evictions', 'CacheHits', 'CacheMisses',
      ]) expect(body).toContain(metric);
      expect(t.findOutputs('DashboardUrl').DashboardUrl!.Value).toEqual({ 'Fn::Join': ['', [expect.stringContaining('cloudwatch/home?region='), { Ref: 'AWS::Region' }, `#dashboards/dashboard/herd-mootube-${env}`]] });
    });
  });

  describe('retention', () => {
    test(`every log group of the stack has a retention (${production ? 'a year or more' : 'the configured days'})`, () => {
      const groups = resources(t, 'AWS::Logs::LogGroup');
      expect(Object.keys(groups).length).toBeGreaterThan(0);
      for (const [id, group] of Object.entries(groups)) {
        expect({ id, retention: group.Properties!.RetentionInDays }).toEqual({ id, retention: expect.any(Number) });
        if (production) expect([id, group.Properties!.RetentionInDays >= 365]).toEqual([id, true]);
      }
    });

    test('the access-log bucket is versioned and expires noncurrent versions and their delete markers too', () => {
      const [, bucket] = only(Object.fromEntries(Object.entries(resources(t, 'AWS::S3::Bucket')).filter(([id]) => id.startsWith('AccessLogs'))));
      expect(bucket.Properties!.VersioningConfiguration).toEqual({ Status: 'Enabled' });
      expect(bucket.Properties!.LifecycleConfiguration.Rules).toEqual(expect.arrayContaining([
        expect.objectContaining({ ExpirationInDays: config(env).loadBalancer.accessLogRetentionDays, NoncurrentVersionExpiration: { NoncurrentDays: 1 }, Status: 'Enabled' }),
        expect.objectContaining({ ExpiredObjectDeleteMarker: true, Status: 'Enabled' }),
      ]));
      // No Object Lock: S3 delivers no server access logs (the artifacts bucket's) to a bucket with it.
      expect(bucket.Properties!.ObjectLockEnabled).toBeUndefined();
    });
  });
});

describe('configuration variants', () => {
  let t: Template;
  beforeAll(() => {
    t = variants.template('locked');
  });

  test('a database class that is not burstable gets no CPU credit alarm; thresholds follow the configuration', () => {
    const metrics = Object.values(alarmsUnder(t, 'DatabaseAlarms')).map((x) => x.Properties!);
    expect(metrics.map((x) => x.MetricName)).not.toContain('CPUCreditBalance');
    expect(metrics).toContainEqual(expect.objectContaining({ MetricName: 'CPUUtilization', Threshold: 70 }));
    expect(metrics).toContainEqual(expect.objectContaining({ MetricName: 'DatabaseConnections', Threshold: 500 }));
    expect(Object.values(alarmsUnder(t, 'CacheAlarms')).map((x) => x.Properties!)).toContainEqual(expect.objectContaining({ MetricName: 'Evictions', Threshold: 5 }));
  });

  test('Enhanced Monitoring at the configured interval, Performance Insights off by configuration', () => {
    const [, db] = only(resources(t, 'AWS::RDS::DBInstance'));
    expect(db.Properties).toMatchObject({ MonitoringInterval: 15, EnablePerformanceInsights: false });
  });

  test('a production environment may turn interface endpoints off', () => {
    expect(Object.values(resources(t, 'AWS::EC2::VPCEndpoint')).filter((e) => e.Properties!.VpcEndpointType === 'Interface')).toEqual([]);
  });
});

describe('every Lambda function of every synthesized template', () => {
  /** Every template of both apps: environment stacks and release-state stacks. */
  const templates = (): [string, Template][] => [
    ...Object.keys(built.stacks).flatMap((env): [string, Template][] => [[env, built.template(env)], [`${env}-release-state`, built.releaseStateTemplate(env)]]),
    ...Object.keys(variants.stacks).flatMap((env): [string, Template][] => [[env, variants.template(env)], [`${env}-release-state`, variants.releaseStateTemplate(env)]]),
  ];

  test('logs to a log group of its stack that has a retention (none to a never-expiring /aws/lambda/<name>)', () => {
    let functions = 0;
    for (const [name, t] of templates()) {
      const groups = resources(t, 'AWS::Logs::LogGroup');
      for (const [id, fn] of Object.entries(resources(t, 'AWS::Lambda::Function'))) {
        functions++;
        const ref = (fn.Properties!.LoggingConfig as { LogGroup?: { Ref?: string } } | undefined)?.LogGroup?.Ref;
        const group = ref === undefined ? undefined : groups[ref];
        expect({ template: name, fn: id, retention: group?.Properties?.RetentionInDays }).toEqual({ template: name, fn: id, retention: expect.any(Number) });
      }
    }
    expect(functions).toBeGreaterThanOrEqual(8);
  });

  test('every custom resource is served by a Lambda function of its own template (which the test above checks)', () => {
    for (const [name, t] of templates()) {
      const json = t.toJSON() as { Resources: Resources };
      for (const [id, r] of Object.entries(json.Resources)) {
        if (!(r.Type.startsWith('Custom::') || r.Type === 'AWS::CloudFormation::CustomResource')) continue;
        const token = r.Properties!.ServiceToken as { 'Fn::GetAtt'?: [string, string] };
        const target = token['Fn::GetAtt']?.[0];
        expect({ template: name, resource: id, provider: target && json.Resources[target]?.Type }).toEqual({ template: name, resource: id, provider: 'AWS::Lambda::Function' });
      }
    }
  });
});
