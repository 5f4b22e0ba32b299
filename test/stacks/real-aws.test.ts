/**
 * What real AWS checks of herd's templates that a synth alone does not (../shared/REAL-AWS.md,
 * "CloudFormation and templates"): a fresh account, every commercial region, launch templates
 * that CloudFormation and the deploy step share, re-creating a deleted environment, logs,
 * the network a deploy needs, Graviton, a customer-managed EBS key.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { RegionInfo } from 'aws-cdk-lib/region-info';
import type { HerdSettings } from '../../lib/config/types';
import { ELB_LOG_DELIVERY_PRINCIPAL } from '../../lib/access-logs';
import { buildApp, type SynthesizedApp } from '../support/app';

type Json = Record<string, unknown>;
type Resources = Record<string, { Type: string; Properties?: Json; DeletionPolicy?: string; DependsOn?: string[] }>;

const KEY_ARN = 'arn:aws:kms:eu-central-2:123456789012:key/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d';

/** Two pinned environments: a Graviton one in a region opened in 2022, with its own EBS key, and one in us-east-1. */
const PINNED: HerdSettings = {
  app: 'shop',
  environments: [
    {
      name: 'zurich',
      account: '123456789012',
      region: 'eu-central-2',
      network: { cidr: '10.40.0.0/16' },
      web: { instanceType: 't4g.small' },
      worker: { instanceType: 'm7g.medium' },
      deploy: { builderInstanceType: 't4g.medium' },
      ebsKmsKeyArn: KEY_ARN,
    },
    { name: 'virginia', account: '123456789012', region: 'us-east-1', network: { cidr: '10.50.0.0/16' } },
  ],
};

let agnostic: SynthesizedApp;
let pinned: SynthesizedApp;
beforeAll(() => {
  agnostic = buildApp();
  pinned = buildApp(PINNED);
});

function resources(template: Template, type?: string): Resources {
  const all = template.toJSON().Resources as Resources;
  return Object.fromEntries(Object.entries(all).filter(([, r]) => type === undefined || r.Type === type));
}

/** Every value under `node` whose key is `key`, at any depth. */
function valuesOf(node: unknown, key: string): unknown[] {
  if (Array.isArray(node)) return node.flatMap((n) => valuesOf(n, key));
  if (node === null || typeof node !== 'object') return [];
  return Object.entries(node as Json).flatMap(([k, v]) => [...(k === key ? [v] : []), ...valuesOf(v, key)]);
}

function deployEnvironmentOf(template: Template): string {
  const fn = Object.values(resources(template, 'AWS::Lambda::Function')).find((f) => JSON.stringify(f.Properties).includes('DEPLOY_ENVIRONMENT'));
  return JSON.stringify(fn?.Properties);
}

/** The advance Lambda's statements: its default policy and the managed policies CDK overflows statements to (`…OverflowPolicy…`). */
function advancePolicy(template: Template): Json[] {
  const policies = [
    ...Object.entries(resources(template, 'AWS::IAM::Policy')).filter(([id]) => id.startsWith('DeployStepAdvanceServiceRoleDefaultPolicy')),
    ...Object.entries(resources(template, 'AWS::IAM::ManagedPolicy')).filter(([id]) => id.startsWith('DeployStepAdvanceServiceRoleOverflowPolicy')),
  ];
  return policies.flatMap(([, policy]) => ((policy.Properties?.PolicyDocument as Json | undefined)?.Statement ?? []) as Json[]);
}

describe('a fresh account (REAL-AWS 1)', () => {
  test.each(['testing', 'staging', 'production'])('%s: no key policy names a service-linked role as a principal; Auto Scaling may still publish to the encrypted topic', (env) => {
    const template = agnostic.template(env);
    for (const key of Object.values(resources(template, 'AWS::KMS::Key'))) {
      const principals = JSON.stringify(valuesOf(key.Properties?.KeyPolicy, 'Principal'));
      expect(principals).not.toContain('aws-service-role');
    }
    const statements = Object.values(resources(template, 'AWS::KMS::Key')).flatMap((k) => valuesOf(k.Properties?.KeyPolicy, 'Statement').flat() as Json[]);
    const autoScaling = statements.find((s) => s.Sid === 'AutoScalingNotificationsPublish');
    expect(autoScaling).toMatchObject({ Effect: 'Allow', Principal: { AWS: '*' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] });
    expect(JSON.stringify((autoScaling?.Condition as Json).ArnEquals)).toContain(':role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling');
    expect((autoScaling?.Condition as Json).StringEquals).toEqual({ 'kms:CallerAccount': { Ref: 'AWS::AccountId' } });
    // The topic the groups notify is the one this key encrypts.
    const groups = Object.values(resources(template, 'AWS::AutoScaling::AutoScalingGroup'));
    expect(groups.every((g) => JSON.stringify(g.Properties?.NotificationConfigurations).includes('NotificationsTopic'))).toBe(true);
  });
});

describe('current-image exists before anything resolves it (REAL-AWS 2)', () => {
  test('the resource writing the aws:ec2:image parameter may describe images, and the environment stack waits for its stack', () => {
    const releaseState = agnostic.releaseStateTemplate('staging');
    const statements = Object.values(resources(releaseState, 'AWS::IAM::Policy')).flatMap((p) => ((p.Properties?.PolicyDocument as Json).Statement as Json[]));
    expect(statements).toContainEqual(expect.objectContaining({ Sid: 'ValidateImageParameter', Action: 'ec2:DescribeImages' }));
    expect(agnostic.stacks.staging.dependencies.map((s) => s.stackName)).toEqual(['herd-staging-release-state']);
    // The deploy step, which overwrites it, may describe images too.
    expect(advancePolicy(agnostic.template('staging')).find((s) => s.Sid === 'Describe')?.Action).toContain('ec2:DescribeImages');
  });
});

describe('every commercial region (REAL-AWS 3)', () => {
  /** The principals of the ALB log statements as CloudFormation would resolve them in `region`. */
  function logWriters(template: Template, region: string): string[] {
    const json = template.toJSON() as { Conditions?: Record<string, unknown> };
    const conditions = json.Conditions ?? {};
    const evalCondition = (expr: unknown): boolean => {
      const e = expr as Json;
      if ('Condition' in e) return evalCondition(conditions[e.Condition as string]);
      if ('Fn::Equals' in e) {
        const [a, b] = (e['Fn::Equals'] as unknown[]).map((v) => (JSON.stringify(v) === '{"Ref":"AWS::Region"}' ? region : v));
        return a === b;
      }
      if ('Fn::Or' in e) return (e['Fn::Or'] as unknown[]).some(evalCondition);
      if ('Fn::Not' in e) return !evalCondition((e['Fn::Not'] as unknown[])[0]);
      throw new Error(`condition function not expected here: ${JSON.stringify(e)}`);
    };
    const NO_VALUE = Symbol('NoValue');
    const resolve = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(resolve).filter((x) => x !== NO_VALUE);
      if (v === null || typeof v !== 'object') return v;
      const o = v as Json;
      if ('Fn::If' in o) {
        const [c, yes, no] = o['Fn::If'] as [string, unknown, unknown];
        return resolve(evalCondition(conditions[c]) ? yes : no);
      }
      if ('Ref' in o) return o.Ref === 'AWS::NoValue' ? NO_VALUE : `{${String(o.Ref)}}`;
      if ('Fn::Join' in o) {
        const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
        return (resolve(parts) as unknown[]).join(sep);
      }
      if ('Fn::FindInMap' in o) throw new Error(`a table lookup, which fails in a region missing from the table: ${JSON.stringify(o)}`);
      return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, resolve(x)]).filter(([, x]) => x !== NO_VALUE));
    };
    const policy = Object.values(resources(template, 'AWS::S3::BucketPolicy')).find((p) => JSON.stringify(p.Properties).includes('alb/AWSLogs'));
    const statements = resolve((policy?.Properties?.PolicyDocument as Json).Statement) as Json[];
    return statements
      .filter((s) => JSON.stringify(s.Resource).includes('alb/AWSLogs'))
      .flatMap((s) => Object.entries(s.Principal as Json).flatMap(([type, p]) => (Array.isArray(p) ? p : [p]).map((x) => `${type}:${String(x)}`)));
  }

  test('an environment-agnostic stack has no table lookup anywhere', () => {
    for (const env of ['testing', 'staging', 'production']) {
      for (const template of [agnostic.template(env), agnostic.releaseStateTemplate(env)]) {
        expect(JSON.stringify(template.toJSON())).not.toContain('Fn::FindInMap');
        expect(template.toJSON().Mappings).toBeUndefined();
      }
    }
  });

  test('an environment-agnostic stack lets each region\'s ELB deliver access logs, including regions opened since 2022 and any region opened later', () => {
    const template = agnostic.template('staging');
    const legacy = RegionInfo.regions.filter((r) => r.partition === 'aws' && r.elbv2Account);
    expect(legacy.length).toBeGreaterThan(15);
    for (const r of legacy) {
      expect(logWriters(template, r.name).sort()).toEqual([`AWS:arn:{AWS::Partition}:iam::${r.elbv2Account}:root`, `Service:${ELB_LOG_DELIVERY_PRINCIPAL}`]);
    }
    for (const region of ['eu-central-2', 'ap-south-2', 'me-central-1', 'il-central-1', 'ca-west-1', 'xx-future-9']) {
      expect(logWriters(template, region)).toEqual([`Service:${ELB_LOG_DELIVERY_PRINCIPAL}`]);
    }
  });

  test('pinned to eu-central-2 the bucket policy names the log-delivery service principal; pinned to us-east-1, the region\'s ELB account', () => {
    expect(logWriters(pinned.template('zurich'), 'eu-central-2')).toEqual([`Service:${ELB_LOG_DELIVERY_PRINCIPAL}`]);
    expect(logWriters(pinned.template('virginia'), 'us-east-1')).toEqual(['AWS:arn:{AWS::Partition}:iam::127311923021:root']);
    // Pinned, the choice is made at synthesis: no region condition.
    for (const env of ['zurich', 'virginia']) expect(Object.keys(pinned.template(env).toJSON().Conditions)).toEqual(['Released']);
  });
});

describe('CloudFormation and the deploy step share the launch templates (REAL-AWS 4–6)', () => {
  test('no launch template resolves an SSM parameter at launch: the image is a literal AMI CloudFormation resolves when an operation starts', () => {
    for (const env of ['testing', 'staging', 'production']) {
      const template = agnostic.template(env);
      const json = template.toJSON();
      expect(JSON.stringify(json)).not.toContain('resolve:ssm:/herd');
      for (const lt of Object.values(resources(template, 'AWS::EC2::LaunchTemplate'))) {
        const image = (lt.Properties?.LaunchTemplateData as Json).ImageId as { Ref: string };
        expect(json.Parameters[image.Ref].Type).toBe('AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>');
      }
    }
  });

  test('the guard\'s fingerprint is stable for one configuration and changes with the launch template data', () => {
    const fingerprint = (app: SynthesizedApp) => JSON.stringify(Object.values(resources(app.template('staging'), 'Custom::HerdDeployGuard'))[0]?.Properties?.Fingerprint);
    const same = buildApp();
    expect(fingerprint(same)).toBe(fingerprint(agnostic));
    const base = (agnostic.config.environments.find((e) => e.name === 'staging')!);
    const bigger = buildApp({
      app: 'mootube',
      environments: agnostic.config.environments.map((e) => ({ ...e, ...(e.name === 'staging' ? { web: { ...base.web, instanceType: 't3.large' } } : {}) })),
    });
    expect(fingerprint(bigger)).not.toBe(fingerprint(agnostic));
  });

  test('no custom resource is fed a value that changes with every Amazon Linux release', () => {
    for (const env of ['testing', 'staging', 'production']) {
      for (const template of [agnostic.template(env), agnostic.releaseStateTemplate(env)]) {
        const json = template.toJSON();
        const amiParameters = Object.entries(json.Parameters ?? {}).filter(([, p]) => String((p as Json).Default).startsWith('/aws/service/')).map(([id]) => id);
        for (const custom of Object.values(resources(template)).filter((r) => r.Type.startsWith('Custom::'))) {
          for (const id of amiParameters) expect(JSON.stringify(custom.Properties)).not.toContain(id);
        }
      }
    }
  });
});

describe('a deleted environment can be created again (REAL-AWS 7)', () => {
  const NAME_PROPERTIES = ['LogGroupName', 'Name', 'SecretName', 'BucketName', 'TableName', 'DBInstanceIdentifier', 'TopicName', 'QueueName', 'StateMachineName', 'AliasName', 'RoleName', 'FunctionName'];

  test.each(['testing', 'staging', 'production'])('%s: nothing with a fixed name outlives the stack', (env) => {
    const template = agnostic.template(env);
    for (const [id, r] of Object.entries(resources(template))) {
      const named = NAME_PROPERTIES.filter((p) => typeof r.Properties?.[p] === 'string' && r.Type !== 'AWS::SSM::Parameter');
      if (named.length === 0) continue;
      expect({ id, type: r.Type, deletionPolicy: r.DeletionPolicy ?? 'Delete' }).toEqual({ id, type: r.Type, deletionPolicy: expect.stringMatching(/^(Delete|Snapshot)$/) });
    }
    // The maintenance bypass secret has no fixed name (a deleted secret keeps its name for its recovery window).
    for (const secret of Object.values(resources(template, 'AWS::SecretsManager::Secret'))) expect(secret.Properties).not.toHaveProperty('Name');
  });

  test('keeps only the buckets, the deploy history and (with deletion protection) a final database snapshot', () => {
    const template = agnostic.template('production');
    const kept = Object.values(resources(template)).filter((r) => r.DeletionPolicy === 'Retain').map((r) => r.Type).sort();
    expect(kept).toEqual(['AWS::DynamoDB::Table', 'AWS::S3::Bucket', 'AWS::S3::Bucket']);
    expect(Object.values(resources(template, 'AWS::RDS::DBInstance'))[0]?.DeletionPolicy).toBe('Snapshot');
  });
});

describe('logs reach CloudWatch (REAL-AWS 8, 9)', () => {
  test('the state machine logs under /aws/vendedlogs/, and no CDK log-retention helper is deployed', () => {
    for (const env of ['testing', 'staging', 'production']) {
      const template = agnostic.template(env);
      const machine = Object.values(resources(template, 'AWS::StepFunctions::StateMachine'))[0]!;
      const destination = JSON.stringify(machine.Properties?.LoggingConfiguration);
      const group = Object.entries(resources(template, 'AWS::Logs::LogGroup')).find(([id]) => destination.includes(id));
      expect(group?.[1].Properties?.LogGroupName).toBe(`/aws/vendedlogs/states/herd-mootube-${env}-deploy`);
      for (const t of [template, agnostic.releaseStateTemplate(env)]) {
        expect(Object.values(resources(t)).map((r) => r.Type)).not.toContain('Custom::LogRetention');
      }
      // The database's log group exists, with its retention, before RDS exports to it.
      const db = Object.entries(resources(template, 'AWS::RDS::DBInstance'))[0]!;
      const dbLogs = Object.entries(resources(template, 'AWS::Logs::LogGroup')).find(([, g]) => String(g.Properties?.LogGroupName).startsWith('/aws/rds/instance/'));
      expect(dbLogs?.[1].Properties?.LogGroupName).toBe(`/aws/rds/instance/${String(db[1].Properties?.DBInstanceIdentifier)}/postgresql`);
      expect(db[1].DependsOn).toContain(dbLogs?.[0]);
    }
  });

  test('instances may create their log streams, and the groups of Procfile processes the stack does not know, in their environment only', () => {
    const template = agnostic.template('staging');
    const statements = Object.entries(resources(template, 'AWS::IAM::Policy'))
      .filter(([id]) => id.startsWith('WebInstanceRole'))
      .flatMap(([, p]) => (p.Properties?.PolicyDocument as Json).Statement as Json[]);
    const groups = statements.find((s) => s.Sid === 'CreateOwnEnvironmentLogGroups');
    expect(groups?.Action).toEqual(['logs:CreateLogGroup', 'logs:PutRetentionPolicy', 'logs:DescribeLogGroups']);
    expect(JSON.stringify(groups?.Resource)).toContain(':log-group:/herd/mootube/staging/*"');
    expect(statements.find((s) => s.Sid === 'ShipOwnEnvironmentLogs')?.Action).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams']);
    // herd-boot gets the retention for the groups the agent creates.
    const lt = Object.values(resources(template, 'AWS::EC2::LaunchTemplate'))[0]!;
    expect(JSON.stringify(lt.Properties)).toContain('--log-retention-days 14');
    for (const process of ['release', 'boot']) {
      template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: `/herd/mootube/staging/${process}`, RetentionInDays: 14 });
    }
  });
});

describe('the network a real deploy needs (REAL-AWS 10)', () => {
  test('an S3 gateway endpoint serves the private and isolated subnets', () => {
    const template = agnostic.template('staging');
    const endpoints = Object.values(resources(template, 'AWS::EC2::VPCEndpoint'));
    expect(endpoints).toHaveLength(1);
    expect(endpoints[0]?.Properties).toMatchObject({ VpcEndpointType: 'Gateway' });
    expect(JSON.stringify(endpoints[0]?.Properties?.ServiceName)).toContain('.s3');
    const tables = JSON.stringify(endpoints[0]?.Properties?.RouteTableIds);
    expect(tables).toMatch(/PrivateSubnet1RouteTable/);
    expect(tables).toMatch(/IsolatedSubnet1RouteTable/);
    expect(tables).not.toMatch(/PublicSubnet/);
  });
});

describe('Graviton (REAL-AWS 17)', () => {
  test('an arm64 environment bakes from the arm64 base image and starts current-image from it', () => {
    expect(deployEnvironmentOf(pinned.template('zurich'))).toContain('al2023-ami-kernel-default-arm64');
    pinned.releaseStateTemplate('zurich').hasResourceProperties('Custom::HerdReleaseParameters', {
      BaseImageParameter: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64',
    });
    expect(deployEnvironmentOf(pinned.template('virginia'))).toContain('al2023-ami-kernel-default-x86_64');
  });
});

describe('a customer-managed default EBS key (REAL-AWS 16)', () => {
  test('encrypts the fleets\' volumes and the builder\'s, and lets the deploy step grant EC2 the key, through EC2 only', () => {
    const template = pinned.template('zurich');
    for (const lt of Object.values(resources(template, 'AWS::EC2::LaunchTemplate'))) {
      const ebs = ((lt.Properties?.LaunchTemplateData as Json).BlockDeviceMappings as Json[])[0]?.Ebs as Json;
      expect(ebs).toMatchObject({ Encrypted: true, KmsKeyId: KEY_ARN });
    }
    expect(deployEnvironmentOf(template)).toContain(`\\"ebsKmsKeyArn\\":\\"${KEY_ARN}\\"`);
    const statements = advancePolicy(template);
    expect(statements.find((s) => s.Sid === 'GrantEbsKeyToEc2')).toEqual({
      Sid: 'GrantEbsKeyToEc2',
      Effect: 'Allow',
      Action: 'kms:CreateGrant',
      Resource: KEY_ARN,
      Condition: { StringEquals: { 'kms:ViaService': 'ec2.eu-central-2.amazonaws.com' }, Bool: { 'kms:GrantIsForAWSResource': 'true' } },
    });
    expect(statements.find((s) => s.Sid === 'UseEbsKeyThroughEc2')).toMatchObject({
      Action: ['kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptFrom', 'kms:ReEncryptTo'],
      Resource: KEY_ARN,
      Condition: { StringEquals: { 'kms:ViaService': 'ec2.eu-central-2.amazonaws.com' } },
    });
    // Without a key, no statement names one.
    expect(advancePolicy(pinned.template('virginia')).map((s) => s.Sid)).not.toContain('GrantEbsKeyToEc2');
  });
});
