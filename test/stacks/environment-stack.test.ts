import { Match, Template } from 'aws-cdk-lib/assertions';
import type { HerdSettings } from '../../lib/config/types';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { configFingerprint } from '../../lib/config/fingerprint';
import { readmeCostTable } from '../../lib/cost/estimate';
import { STAGING_PRIORITY, STAGING_SOURCE_CIDR, peerEnvironments } from '../../lib/names';
import { buildApp, SynthesizedApp } from '../support/app';

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown>; DeletionPolicy?: string; DependsOn?: string[] }>;

const ENVIRONMENTS = ['testing', 'staging', 'production'] as const;
let built: SynthesizedApp;
beforeAll(() => {
  built = buildApp();
});

function resourcesOf(template: Template, type: string): Resources {
  return template.findResources(type) as Resources;
}

/** Every ingress rule of a template, inline or standalone, as [fromPort, toPort]. */
function ingressPorts(template: Template): Array<[number, number]> {
  const ports: Array<[number, number]> = [];
  for (const sg of Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroup'))) {
    for (const rule of (sg.Properties?.SecurityGroupIngress as Array<Record<string, number>> | undefined) ?? []) {
      ports.push([rule.FromPort ?? -1, rule.ToPort ?? 65535]);
    }
  }
  for (const rule of Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroupIngress'))) {
    const p = rule.Properties as Record<string, number>;
    ports.push([p.FromPort ?? -1, p.ToPort ?? 65535]);
  }
  return ports;
}

describe.each(ENVIRONMENTS)('the %s environment', (env) => {
  let template: Template;
  beforeAll(() => {
    template = built.template(env);
  });
  const config = () => built.config.environments.find((e) => e.name === env)!;

  test('has an internet-facing ALB that drops invalid headers and logs access', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internet-facing',
      LoadBalancerAttributes: Match.arrayWith([
        { Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' },
        { Key: 'access_logs.s3.enabled', Value: 'true' },
      ]),
    });
  });

  test('serves plain HTTP with a warning where no certificate is configured; production (placeholder certificate) HTTPS only', () => {
    const warnings = built.stacks[env].node.findAll().flatMap((c) => c.node.metadata).filter((m) => m.type === 'aws:cdk:warning').map((w) => String(w.data));
    if (env === 'production') {
      expect(config().certificateArn).toMatch(/^arn:aws:acm:[a-z0-9-]+:123456789012:certificate\/0{8}-/);
      template.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 2);
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 443, Protocol: 'HTTPS' });
      template.hasOutput('Url', { Value: 'https://mootube.example.com' });
      expect(warnings).not.toContainEqual(expect.stringContaining('No certificateArn configured'));
      // The placeholder synthesizes; the warning says it must be replaced before a deploy.
      expect(warnings).toContainEqual(expect.stringContaining('is the example\'s placeholder: CloudFormation will refuse it'));
      return;
    }
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 1);
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 80, Protocol: 'HTTP' });
    expect(warnings).toContainEqual(expect.stringContaining('No certificateArn configured'));
  });

  test('protects the load balancer from deletion and puts a web application firewall in front of it in production only', () => {
    const production = env === 'production';
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'deletion_protection.enabled', Value: String(production) }]),
    });
    template.resourceCountIs('AWS::WAFv2::WebACL', production ? 1 : 0);
    template.resourceCountIs('AWS::WAFv2::WebACLAssociation', production ? 1 : 0);
  });

  test('checks the health path fast enough for deploys and drains briefly', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: 8000,
      HealthCheckPath: '/health',
      HealthCheckIntervalSeconds: 10,
      HealthyThresholdCount: 2,
      Matcher: { HttpCode: '200' },
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '30' }]),
    });
  });

  test('outputs the fingerprint of the configuration it was synthesized from, as herd doctor computes it', () => {
    const peers = peerEnvironments(built.config.environments.map((e) => e.name), env);
    template.hasOutput('ConfigFingerprint', { Value: configFingerprint(built.config.app, config(), peers) });
    // Any change of the environment's configuration changes it.
    expect(configFingerprint(built.config.app, { ...config(), amiRetention: config().amiRetention + 1 }, peers)).not.toBe(configFingerprint(built.config.app, config(), peers));
  });

  test('has a web and a worker Auto Scaling group, each with its own launch template', () => {
    const groups = Object.values(resourcesOf(template, 'AWS::AutoScaling::AutoScalingGroup'));
    expect(groups).toHaveLength(2);
    const templateRefs = groups.map((g) => JSON.stringify((g.Properties!.LaunchTemplate as Record<string, unknown>).LaunchTemplateId));
    expect(new Set(templateRefs).size).toBe(2);
    template.resourceCountIs('AWS::EC2::LaunchTemplate', 2);
  });

  test('launch templates require IMDSv2, encrypt the root volume, have no key pair and boot the current release', () => {
    for (const lt of Object.values(resourcesOf(template, 'AWS::EC2::LaunchTemplate'))) {
      const data = lt.Properties!.LaunchTemplateData as Record<string, unknown>;
      expect(data.MetadataOptions).toMatchObject({ HttpTokens: 'required', HttpPutResponseHopLimit: 1 });
      expect(data.BlockDeviceMappings).toEqual([{ DeviceName: '/dev/xvda', Ebs: { DeleteOnTermination: true, Encrypted: true, VolumeSize: 20, VolumeType: 'gp3' } }]);
      expect(data).not.toHaveProperty('KeyName');
      // A literal AMI id, resolved by CloudFormation from current-image when the update starts.
      const parameter = (data.ImageId as { Ref: string }).Ref;
      expect(template.toJSON().Parameters[parameter]).toEqual({ Type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>', Default: `/herd/mootube/${env}/current-image` });
    }
  });

  test('fleets start empty and wait for the first release; web uses the load balancer health check', () => {
    const web = config().web;
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MinSize: { 'Fn::If': ['Released', String(web.minCapacity), '0'] },
      MaxSize: String(web.maxCapacity),
      HealthCheckType: 'ELB',
      HealthCheckGracePeriod: 180,
      DefaultInstanceWarmup: 60,
      TargetGroupARNs: Match.anyValue(),
      NotificationConfigurations: Match.anyValue(),
    });
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MinSize: { 'Fn::If': ['Released', String(config().worker.minCapacity), '0'] },
      HealthCheckType: 'EC2',
    });
    for (const group of Object.values(resourcesOf(template, 'AWS::AutoScaling::AutoScalingGroup'))) {
      expect(group.Properties).not.toHaveProperty('DesiredCapacity');
    }
    // The floor follows the release CloudFormation resolves from current-release.
    const json = template.toJSON();
    const release = json.Conditions.Released['Fn::Not'][0]['Fn::Equals'][0].Ref;
    expect(json.Conditions.Released).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: release }, 'none'] }] });
    expect(json.Parameters[release]).toEqual({ Type: 'AWS::SSM::Parameter::Value<String>', Default: `/herd/mootube/${env}/current-release` });
    expect(Object.keys(resourcesOf(template, 'Custom::HerdCapacityFloors'))).toEqual([]);
  });

  test('keeps the release parameters in a stack of their own, deployed first', () => {
    const stack = built.stacks[env];
    const releaseState = built.releaseStateStacks[env];
    expect(releaseState.stackName).toBe(`herd-${env}-release-state`);
    expect(stack.dependencies).toEqual([releaseState]);
    built.releaseStateTemplate(env).hasResourceProperties('Custom::HerdReleaseParameters', {
      CurrentImageParameter: `/herd/mootube/${env}/current-image`,
      CurrentReleaseParameter: `/herd/mootube/${env}/current-release`,
      // The parameter's name, never its value: a new AL2023 release does not make the resource run.
      BaseImageParameter: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
      NoRelease: 'none',
      // Created tagged like everything herd makes: two apps may have environments of the same name.
      Tags: { 'herd:app': 'mootube', 'herd:environment': env },
    });
    expect(Object.keys(resourcesOf(template, 'Custom::HerdReleaseParameters'))).toEqual([]);
  });

  test('makes the launch templates and groups wait for the deploy guard, whose fingerprint follows image, release and template', () => {
    const guards = Object.keys(resourcesOf(template, 'Custom::HerdDeployGuard'));
    expect(guards).toHaveLength(1);
    for (const type of ['AWS::EC2::LaunchTemplate', 'AWS::AutoScaling::AutoScalingGroup']) {
      const found = Object.values(resourcesOf(template, type));
      expect(found).toHaveLength(2);
      for (const r of found) expect(r.DependsOn).toEqual(expect.arrayContaining(guards));
    }
    const json = template.toJSON();
    const lt = Object.values(resourcesOf(template, 'AWS::EC2::LaunchTemplate'))[0];
    const image = ((lt.Properties!.LaunchTemplateData as Record<string, unknown>).ImageId as { Ref: string }).Ref;
    const release = json.Conditions.Released['Fn::Not'][0]['Fn::Equals'][0].Ref;
    template.hasResourceProperties('Custom::HerdDeployGuard', {
      Environment: env,
      Fingerprint: { 'Fn::Join': ['|', [Match.stringLikeRegexp('^[0-9a-f]{32}$'), { Ref: image }, { Ref: release }]] },
      CurrentReleaseParameter: `/herd/mootube/${env}/current-release`,
    });
  });

  test('runs an encrypted PostgreSQL with generated credentials, Multi-AZ and protected only in production', () => {
    const production = env === 'production';
    template.hasResource('AWS::RDS::DBInstance', {
      Properties: Match.objectLike({
        Engine: 'postgres',
        StorageEncrypted: true,
        MultiAZ: production,
        DeletionProtection: production,
        PubliclyAccessible: false,
        MasterUserPassword: Match.anyValue(),
      }),
      DeletionPolicy: production ? 'Snapshot' : 'Delete',
    });
  });

  test('runs a Valkey cache encrypted at rest and in transit, with an AUTH token', () => {
    template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      Engine: 'valkey',
      AtRestEncryptionEnabled: true,
      TransitEncryptionEnabled: true,
      AuthToken: Match.anyValue(),
      MultiAZEnabled: env === 'production',
    });
  });

  test('reads the cache AUTH token as the secret\'s current version, so a stack update after a rotation of the token cannot set the group back to an old one', () => {
    // No version id, no stage but AWSCURRENT: whenever CloudFormation resolves the reference
    // (creating or updating the group) it gets the token the servers read (lib/cache.ts).
    const groups = Object.values(resourcesOf(template, 'AWS::ElastiCache::ReplicationGroup'));
    expect(groups).toHaveLength(1);
    const reference = JSON.stringify(groups[0]!.Properties!.AuthToken);
    expect(reference).toMatch(/\{\{resolve:secretsmanager:/);
    expect(reference).toMatch(/:SecretString::(AWSCURRENT)?:\}\}/);
  });

  test('keeps artifacts in a versioned, encrypted, private, TLS-only bucket', () => {
    const logical = Object.keys(template.findResources('AWS::S3::Bucket', { Properties: { VersioningConfiguration: { Status: 'Enabled' } } })).filter((id) => !id.startsWith('AccessLogs'));
    expect(logical).toEqual([expect.stringMatching(/^ArtifactsBucket/)]);
    template.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: Match.objectLike({ ServerSideEncryptionConfiguration: Match.anyValue() }),
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 's3/artifacts/' }),
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logical[0] },
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  test('opens no port 22 anywhere, and only 80 (and 443 with a certificate) to the internet', () => {
    for (const [from, to] of ingressPorts(template)) {
      expect(from <= 22 && 22 <= to).toBe(false);
    }
    const sgs = Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroup'));
    const open = sgs.flatMap((sg) => ((sg.Properties?.SecurityGroupIngress as Array<Record<string, unknown>> | undefined) ?? []).filter((r) => r.CidrIp === '0.0.0.0/0'));
    expect(open.map((r) => r.FromPort).sort()).toEqual(config().certificateArn ? [443, 80] : [80]);
  });

  test('lets the ALB reach web, and only the fleets reach the database (and the role keeper and rotation functions) and cache', () => {
    const ingress = Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties as Record<string, unknown>);
    const byPort = (port: number) => ingress.filter((r) => r.FromPort === port).map((r) => JSON.stringify(r.SourceSecurityGroupId));
    const webSg = JSON.stringify({ 'Fn::GetAtt': [Object.keys(template.findResources('AWS::EC2::SecurityGroup', { Properties: { GroupDescription: `herd mootube ${env} web instances` } }))[0], 'GroupId'] });
    const workerSg = JSON.stringify({ 'Fn::GetAtt': [Object.keys(template.findResources('AWS::EC2::SecurityGroup', { Properties: { GroupDescription: `herd mootube ${env} worker instances` } }))[0], 'GroupId'] });
    expect(byPort(8000)).toEqual([expect.stringContaining('LoadBalancerSecurityGroup')]);
    const credentialsSg = JSON.stringify({ 'Fn::GetAtt': [Object.keys(template.findResources('AWS::EC2::SecurityGroup', { Properties: { GroupDescription: 'herd database role keeper and credential rotation: to the database and AWS APIs' } }))[0], 'GroupId'] });
    expect(byPort(5432).sort()).toEqual([webSg, workerSg, credentialsSg].sort());
    expect(byPort(6379).sort()).toEqual([webSg, workerSg].sort());
  });

  test('limits the instance roles (web, worker, migration runner) to their own environment\'s parameters and logs', () => {
    const policies = Object.entries(resourcesOf(template, 'AWS::IAM::Policy')).filter(([, p]) => JSON.stringify(p.Properties).includes('ReadOwnEnvironmentParameters'));
    expect(policies.map(([id]) => id.replace(/DefaultPolicy.*$/, '')).sort()).toEqual(['DeployStepRunnerRole', 'WebInstanceRole', 'WorkerInstanceRole']);
    for (const [, policy] of policies) {
      const text = JSON.stringify(policy.Properties);
      expect(text).toContain(`parameter/herd/mootube/${env}/*`);
      expect(text).toContain(`log-group:/herd/mootube/${env}/*:*`);
      // Only the SSM agent's own calls (Session Manager's minimum) take `*`: no parameter read, no ssm:*.
      const statements = (policy.Properties as { PolicyDocument: { Statement: { Sid?: string; Action: string | string[]; Resource: unknown }[] } }).PolicyDocument.Statement;
      const anywhere = statements.filter((st) => st.Resource === '*');
      expect(anywhere.map((st) => st.Sid)).toEqual(['SessionManagerAgent']);
      expect([anywhere[0]?.Action].flat().filter((action) => !/^(ssm:UpdateInstanceInformation|ssmmessages:\w+Channel|ec2messages:\w+)$/.test(String(action)))).toEqual([]);
      expect(text).not.toMatch(/"ssm:\*"/);
    }
  });

  test('publishes the app settings and secret references the boot script reads', () => {
    for (const name of ['DATABASE_HOST', 'DATABASE_PORT', 'DATABASE_NAME', 'REDIS_HOST', 'REDIS_PORT', 'REDIS_TLS', 'PORT']) {
      template.hasResourceProperties('AWS::SSM::Parameter', { Name: `/herd/mootube/${env}/env/${name}`, Type: 'String' });
    }
    for (const name of ['DATABASE_USER', 'DATABASE_PASSWORD', 'REDIS_PASSWORD', 'SECRET_KEY']) {
      template.hasResourceProperties('AWS::SSM::Parameter', { Name: `/herd/mootube/${env}/secret-env/${name}` });
    }
    // No secret value ever appears in a parameter: only references to Secrets Manager.
    for (const p of Object.values(resourcesOf(template, 'AWS::SSM::Parameter'))) {
      expect(JSON.stringify(p.Properties!.Value)).not.toContain('resolve:secretsmanager');
    }
  });

  test('alarms on 5xx, unhealthy hosts and latency, notifying an encrypted topic', () => {
    // The load balancer's three, among the others (test/stacks/observability.test.ts).
    expect(Object.keys(template.findResources('AWS::CloudWatch::Alarm')).filter((id) => id.startsWith('LoadBalancer'))).toHaveLength(3);
    for (const metric of ['HTTPCode_Target_5XX_Count', 'UnHealthyHostCount', 'TargetResponseTime']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: metric, AlarmActions: [Match.anyValue()] });
    }
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
  });

  test('spreads the VPC over 2 AZs with NAT per config and flow logs', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', config().network.natGateways);
    template.resourceCountIs('AWS::EC2::Subnet', 6);
    template.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'ALL' });
  });

  test('gives nothing launched into a public subnet a public IP (Control Tower CT.EC2.PR.11)', () => {
    const subnets = Object.values(resourcesOf(template, 'AWS::EC2::Subnet'));
    expect(subnets.map((s) => s.Properties?.MapPublicIpOnLaunch ?? false)).toEqual(subnets.map(() => false));
  });

  test('lets only AWS services create grants on the notifications key (Control Tower CT.KMS.PR.3)', () => {
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: { Statement: Match.arrayWith([{
        Sid: 'GrantsOnlyForAwsServices', Effect: 'Deny', Principal: { AWS: '*' }, Action: 'kms:CreateGrant', Resource: '*',
        Condition: { BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' } },
      }]) },
    });
  });

  test('keeps the logical ids of stateful resources', () => {
    const ids = (type: string) => Object.keys(template.findResources(type)).sort();
    // Renaming or re-nesting any of these replaces the resource: its data or value is lost.
    expect(ids('AWS::RDS::DBInstance')).toEqual(['DatabaseInstanceAA8A5FDE']);
    expect(ids('AWS::ElastiCache::ReplicationGroup')).toEqual(['CacheReplicationGroupBFE59FF3']);
    expect(ids('AWS::S3::Bucket')).toEqual(['AccessLogsBucketCD784A59', 'ArtifactsBucket88671897']);
    expect(ids('AWS::SecretsManager::Secret')).toEqual([
      'CacheAuthToken04672416', 'DatabaseCredentialsAppSecretC9FEA2D9', 'MaintenanceBypass3E963058', 'SecretKey573D36D8',
      // CDK names the generated database secret after the stack.
      expect.stringMatching(new RegExp(`^herd${env}DatabaseInstanceSecret[0-9A-F]{8}3fdaad7efa858a3daf9490cf0a702aeb$`)),
    ]);
    expect(ids('AWS::EC2::VPC')).toEqual(['NetworkVpc7FB7348F']);
  });
});

describe('an environment with a domain and certificate', () => {
  const settings: HerdSettings = {
    app: 'mootube',
    environments: [{
      name: 'production',
      profile: 'production',
      account: '123456789012',
      region: 'eu-west-1',
      network: { cidr: '10.30.0.0/16', maxAzs: 3, natGateways: 3 },
      domainNames: ['mootube.example', 'www.mootube.example'],
      certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0b5f3f4e-1111-2222-3333-444455556666',
      maintenance: { bypassCidrs: ['203.0.113.0/24', '198.51.100.7/32'] },
    }],
  };
  let template: Template;
  beforeAll(() => {
    template = buildApp(settings).template('production');
  });

  test('serves HTTPS with the certificate and redirects HTTP to it', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: settings.environments[0].certificateArn }],
      SslPolicy: Match.stringLikeRegexp('TLS13'),
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      DefaultActions: [Match.objectLike({ Type: 'redirect', RedirectConfig: Match.objectLike({ Protocol: 'HTTPS', Port: '443' }) })],
    });
  });

  test('puts the bypass rules above the maintenance slot, forwarding to the app', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
      Priority: 1,
      Conditions: [{ Field: 'http-header', HttpHeaderConfig: { HttpHeaderName: 'X-Herd-Bypass', Values: [Match.anyValue()] } }],
      Actions: [Match.objectLike({ Type: 'forward' })],
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
      Priority: 2,
      Conditions: [{ Field: 'source-ip', SourceIpConfig: { Values: ['203.0.113.0/24', '198.51.100.7/32'] } }],
    });
    template.hasOutput('MaintenancePriority', { Value: '10' });
    const header = JSON.stringify(template.findResources('AWS::ElasticLoadBalancingV2::ListenerRule', { Properties: { Priority: 1 } }));
    expect(header).toContain('{{resolve:secretsmanager:');
  });

  test('a real certificate draws no placeholder warning', () => {
    const warnings = built.stacks.production.node.findAll().flatMap((c) => c.node.metadata).filter((m) => m.type === 'aws:cdk:warning').map((w) => String(w.data));
    expect(warnings.filter((w) => w.includes('placeholder'))).toHaveLength(1);
    const real = buildApp(settings).stacks.production.node.findAll().flatMap((c) => c.node.metadata).filter((m) => m.type === 'aws:cdk:warning').map((w) => String(w.data));
    expect(real.filter((w) => w.includes('placeholder') || w.includes('plain HTTP'))).toEqual([]);
  });

  test('sends nothing in clear text: port 80 only redirects (no rule on it), the bypass and staging rules are on the HTTPS listener', () => {
    const listeners = template.findResources('AWS::ElasticLoadBalancingV2::Listener') as Resources;
    const idOf = (port: number) => Object.entries(listeners).find(([, l]) => l.Properties?.Port === port)?.[0];
    const [https, http] = [idOf(443), idOf(80)];
    expect(listeners[http!]!.Properties!.DefaultActions).toEqual([{ Type: 'redirect', RedirectConfig: { Port: '443', Protocol: 'HTTPS', StatusCode: 'HTTP_301' } }]);
    const rules = Object.values(template.findResources('AWS::ElasticLoadBalancingV2::ListenerRule') as Resources);
    expect(rules.map((r) => r.Properties?.Priority).sort()).toEqual([1, 2, 3]);
    for (const rule of rules) expect(rule.Properties?.ListenerArn).toEqual({ Ref: https });
    template.hasOutput('ListenerArn', { Value: { Ref: https } });
    template.hasOutput('Url', { Value: 'https://mootube.example' });
  });

  test('a full deploy\'s staging target group: the web one\'s health check, no Auto Scaling group attached, health-checked through a rule no client matches; at rest the listener forwards to the web target group', () => {
    const groups = template.findResources('AWS::ElasticLoadBalancingV2::TargetGroup') as Resources;
    const ids = Object.keys(groups);
    const web = ids.find((id) => /LoadBalancerWeb[0-9A-F]{8}$/.test(id))!;
    const next = ids.find((id) => /LoadBalancerWebNext/.test(id))!;
    expect([web, next].every(Boolean)).toBe(true);
    const health = (id: string) => Object.fromEntries(Object.entries(groups[id]!.Properties!).filter(([k]) => k.startsWith('HealthCheck') || k === 'Matcher' || k === 'TargetGroupAttributes'));
    expect(health(next)).toEqual(health(web));
    const attached = Object.values(template.findResources('AWS::AutoScaling::AutoScalingGroup') as Resources).flatMap((g) => (g.Properties?.TargetGroupARNs as unknown[] | undefined) ?? []);
    expect(attached).toEqual([{ Ref: web }]);
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
      Priority: STAGING_PRIORITY,
      Conditions: [{ Field: 'source-ip', SourceIpConfig: { Values: [STAGING_SOURCE_CIDR] } }],
      Actions: [{ Type: 'forward', TargetGroupArn: { Ref: next } }],
    });
    const listeners = template.findResources('AWS::ElasticLoadBalancingV2::Listener', { Properties: { Port: 443 } }) as Resources;
    expect(Object.values(listeners)[0]!.Properties!.DefaultActions).toEqual([{ Type: 'forward', TargetGroupArn: { Ref: web } }]);
  });

  test('reads the bypass value as the secret\'s current version, so a deploy after herd maintenance rotate-bypass keeps the rotated value', () => {
    // No version stage or id: CloudFormation resolves AWSCURRENT whenever it updates the rule
    // (AWS CloudFormation User Guide, "Get a secret or secret value from Secrets Manager":
    // versionless references), which PutSecretValue moved to the rotated value.
    const rule = Object.values(template.findResources('AWS::ElasticLoadBalancingV2::ListenerRule', { Properties: { Priority: 1 } }) as Resources)[0]!;
    const values = (rule.Properties!.Conditions as { HttpHeaderConfig: { Values: unknown[] } }[])[0]!.HttpHeaderConfig.Values;
    expect(values).toHaveLength(1);
    const reference = JSON.stringify(values[0]);
    expect(reference).toMatch(/\{\{resolve:secretsmanager:/);
    expect(reference).toMatch(/:SecretString:::\}\}/);
  });

  test('generates a bypass value of letters and digits only (no character a firewall rule or a header parser could trip on)', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Description: Match.stringLikeRegexp('X-Herd-Bypass'),
      GenerateSecretString: { PasswordLength: 32, ExcludePunctuation: true, IncludeSpace: false },
    });
  });

  test('uses three AZs with a NAT gateway in each when the region is known', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 3);
    template.resourceCountIs('AWS::EC2::Subnet', 9);
  });

  test('adds the domains to the app\'s allowed hosts', () => {
    template.hasResourceProperties('AWS::SSM::Parameter', {
      Name: '/herd/mootube/production/env/ALLOWED_HOSTS',
      Value: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('^mootube.example,www.mootube.example,')])] },
    });
  });
});

describe('the README', () => {
  test('shows what an environment of each profile costs, as the templates say (regenerate with the printed table)', () => {
    const readme = readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
    const block = /<!-- cost -->\n([\s\S]*?)\n<!-- \/cost -->/.exec(readme)?.[1];
    const expected = readmeCostTable({ testing: built.template('testing').toJSON(), production: built.template('production').toJSON() });
    if (block !== expected) process.stdout.write(`README cost table should be:\n${expected}\n`);
    expect(block).toBe(expected);
  });
});
