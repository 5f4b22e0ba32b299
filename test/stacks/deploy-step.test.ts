import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildSync } from 'esbuild';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { stateMachineTimeoutSeconds } from '../../lambda/deploy/budget';
import { KEEPER_WAIT_SECONDS } from '../../lambda/deploy/role-keeper';
import { buildApp, type SynthesizedApp } from '../support/app';

interface Statement {
  Sid?: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

const actionsOf = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const resourcesOf = (s: Statement) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]);

/** The default configuration's app, synthesized once for the whole file. */
let built: SynthesizedApp;
let template: Template;
let advanceStatements: Statement[];
/**
 * Statements of a role's default policy (`<Role>DefaultPolicy…`) and of the managed policies
 * CDK moves statements to when the inline one would be too large (`<Role>OverflowPolicy…`).
 */
function roleStatements(defaultPolicyPrefix: string): Statement[] {
  const overflow = defaultPolicyPrefix.replace(/DefaultPolicy$/, 'OverflowPolicy');
  const policies = [
    ...Object.entries(template.findResources('AWS::IAM::Policy')).filter(([id]) => id.startsWith(defaultPolicyPrefix)),
    ...Object.entries(template.findResources('AWS::IAM::ManagedPolicy')).filter(([id]) => id.startsWith(overflow)),
  ];
  if (policies.length === 0) throw new Error(`policy ${defaultPolicyPrefix}* not found`);
  return policies.flatMap(([, p]) => (p.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement);
}

beforeAll(() => {
  built = buildApp();
  template = built.template('staging');
  advanceStatements = roleStatements('DeployStepAdvanceServiceRoleDefaultPolicy');
});

describe('the deploy table', () => {
  test('keeps lock and history with point-in-time recovery, retained with the stack', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: Match.objectLike({
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      }),
      DeletionPolicy: 'Retain',
    });
    expect(Object.keys(template.findResources('AWS::DynamoDB::Table'))).toEqual(['DeployStepTable47365947']);
  });
});

describe('the advance function', () => {
  test('runs Node.js 24 on arm64, with a timeout far below the Lambda limit', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'herd staging: advances a deploy by one step',
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Timeout: 120,
      Environment: { Variables: { DEPLOY_ENVIRONMENT: Match.anyValue() } },
    });
  });

  test('is told its environment: app, table, fleets, listener, maintenance slot, deploy settings', () => {
    const fn = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Description: 'herd staging: advances a deploy by one step' } }))[0];
    const value = JSON.stringify((fn.Properties as { Environment: { Variables: { DEPLOY_ENVIRONMENT: unknown } } }).Environment.Variables.DEPLOY_ENVIRONMENT);
    for (const expected of ['\\"app\\":\\"mootube\\"', '\\"env\\":\\"staging\\"', 'DeployStepTable', 'WebGroup', 'WorkerGroup', 'LoadBalancerHttp',
      '\\"maintenancePriority\\":10', '\\"strategy\\":\\"rolling\\"', '\\"artifactPrefix\\":\\"releases/\\"', 'al2023-ami-kernel-default-x86_64']) {
      expect(value).toContain(expected);
    }
  });

  test('bundles with esbuild into a module that loads and exports its handler', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'herd-bundle-'));
    try {
      const outfile = path.join(outdir, 'index.js');
      const result = buildSync({
        entryPoints: [path.join(__dirname, '..', '..', 'lambda', 'deploy', 'handler.ts')],
        bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile, logLevel: 'silent',
      });
      expect(result.errors).toEqual([]);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require(outfile) as { handler?: unknown };
      expect(typeof mod.handler).toBe('function');
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });
});

describe('the advance function\'s permissions', () => {
  test('use * only for Describe calls or under an app and environment tag condition', () => {
    const wildcard = advanceStatements.filter((s) => resourcesOf(s).includes('*'));
    for (const s of wildcard) {
      const describeOnly = actionsOf(s).every((a) => /:Describe/.test(a));
      const envScoped = s.Condition?.StringEquals?.['aws:ResourceTag/herd:environment'] === 'staging' && s.Condition?.StringEquals?.['aws:ResourceTag/herd:app'] === 'mootube';
      expect({ sid: s.Sid, scoped: describeOnly || envScoped }).toEqual({ sid: s.Sid, scoped: true });
    }
  });

  test('launch, image and terminate instances only with this app\'s and environment\'s tags', () => {
    const bySid = (sid: string) => advanceStatements.find((s) => s.Sid === sid)!;
    const own = (prefix: string) => ({ [`${prefix}/herd:app`]: 'mootube', [`${prefix}/herd:environment`]: 'staging' });
    expect(bySid('LaunchTaggedInstances').Condition).toEqual({ StringEquals: own('aws:RequestTag') });
    expect(bySid('TerminateOwnInstances').Condition).toEqual({ StringEquals: { ...own('aws:ResourceTag'), 'aws:ResourceTag/herd:role': ['builder', 'release'] } });
    expect(bySid('ImageFromOwnBuilder').Condition).toEqual({ StringEquals: { ...own('aws:ResourceTag'), 'aws:ResourceTag/herd:role': 'builder' } });
    expect(bySid('CreateTaggedImage').Condition).toEqual({ StringEquals: own('aws:RequestTag') });
    expect(bySid('RetireOwnImages').Condition).toEqual({ StringEquals: own('aws:ResourceTag') });
    expect(bySid('RetireOwnSnapshots').Condition).toEqual({ StringEquals: own('aws:ResourceTag') });
    expect(bySid('MaintenanceRuleLifecycle').Condition).toEqual({ StringEquals: own('aws:ResourceTag') });
    expect(bySid('PassInstanceRoles').Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } });
  });

  test('write only this environment\'s parameters, table and listener rules', () => {
    const text = JSON.stringify(advanceStatements.filter((s) => s.Sid !== 'ReadPeerCurrentImages'));
    expect(text).toContain('parameter/herd/mootube/staging/*');
    expect(text).not.toContain('parameter/herd/mootube/production');
    expect(text).not.toContain('parameter/herd/mootube/testing');
    const ddb = advanceStatements.find((s) => s.Sid === 'LockAndHistory')!;
    expect(JSON.stringify(ddb.Resource)).toContain('DeployStepTable');
    expect(actionsOf(ddb)).not.toContain('dynamodb:*');
    for (const s of advanceStatements) expect(actionsOf(s).some((a) => a.endsWith(':*'))).toBe(false);
  });
});

describe('retention across the app\'s environments', () => {
  const deployEnvironmentOf = (t: Template) => {
    const fn = Object.values(t.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('advances a deploy by one step') } }))[0];
    const value = (fn?.Properties as { Environment: { Variables: { DEPLOY_ENVIRONMENT: unknown } } }).Environment.Variables.DEPLOY_ENVIRONMENT;
    return JSON.stringify(value);
  };

  test('the advance function is told the other environments of the app, in configuration order', () => {
    expect(deployEnvironmentOf(template)).toContain('\\"peerEnvironments\\":[\\"testing\\",\\"production\\"]');
    expect(deployEnvironmentOf(built.template('production'))).toContain('\\"peerEnvironments\\":[\\"testing\\",\\"staging\\"]');
  });

  test('reads each peer\'s current-image parameter, by exact ARN, and nothing else of theirs', () => {
    const peers = advanceStatements.filter((s) => s.Sid === 'ReadPeerCurrentImages');
    expect(peers).toHaveLength(1);
    const statement = peers[0]!;
    expect(actionsOf(statement)).toEqual(['ssm:GetParameter']);
    expect(statement.Condition).toBeUndefined();
    const arns = resourcesOf(statement).map((r) => JSON.stringify(r));
    expect(arns).toHaveLength(2);
    expect(arns[0]).toMatch(/:parameter\/herd\/mootube\/testing\/current-image"/);
    expect(arns[1]).toMatch(/:parameter\/herd\/mootube\/production\/current-image"/);
    for (const arn of arns) expect(arn).not.toContain('*');
  });

  test('may list the app\'s launch templates and groups (Describe, no resource scoping)', () => {
    const describe = advanceStatements.find((s) => s.Sid === 'Describe')!;
    expect(actionsOf(describe)).toEqual(expect.arrayContaining(['ec2:DescribeLaunchTemplates', 'ec2:DescribeLaunchTemplateVersions', 'autoscaling:DescribeAutoScalingGroups']));
    expect(resourcesOf(describe)).toEqual(['*']);
  });

  test('an environment without peers gets no peer statement and an empty list', () => {
    const single = buildApp({ app: 'solo', environments: [{ name: 'staging' }] }).template('staging');
    const policy = Object.entries(single.findResources('AWS::IAM::Policy')).find(([id]) => id.startsWith('DeployStepAdvanceServiceRoleDefaultPolicy'))!;
    const statements = (policy[1].Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement;
    expect(statements.map((s) => s.Sid)).not.toContain('ReadPeerCurrentImages');
    expect(deployEnvironmentOf(single)).toContain('\\"peerEnvironments\\":[]');
  });
});

describe('the image builder', () => {
  test('reads only release artifacts and the instance scripts, and reports only its bake', () => {
    const policy = Object.entries(template.findResources('AWS::IAM::Policy')).find(([id]) => id.startsWith('DeployStepBuilderRoleDefaultPolicy'))!;
    const statements = (policy[1].Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement;
    expect(statements.map((s) => [s.Sid, actionsOf(s)])).toEqual([
      ['SessionManagerAgent', expect.arrayContaining(['ssm:UpdateInstanceInformation'])],
      ['ReadArtifactAndScripts', ['s3:GetObject']],
      ['ReportBake', ['ssm:PutParameter']],
    ]);
    expect(JSON.stringify(statements[1].Resource)).toContain('/releases/*');
    expect(JSON.stringify(statements[2].Resource)).toContain('parameter/herd/mootube/staging/bake-runs/*');
  });

  test('has an egress-only security group', () => {
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: 'herd mootube staging image builder: egress only',
      SecurityGroupIngress: Match.absent(),
    });
  });
});

describe('the migration runner', () => {
  const statementsOf = (prefix: string): Statement[] => roleStatements(prefix);
  const runnerRoleId = () => Object.keys(template.findResources('AWS::IAM::Role', { Properties: { Description: 'herd mootube staging migration runner' } }))[0];

  test('has its own role: what a release boot reads, its logs, and its report', () => {
    const statements = statementsOf('DeployStepRunnerRoleDefaultPolicy');
    const named = statements.filter((s) => s.Sid !== undefined);
    expect(named.map((s) => [s.Sid, [...actionsOf(s)].sort()])).toEqual([
      ['SessionManagerAgent', expect.arrayContaining(['ssm:UpdateInstanceInformation', 'ssmmessages:OpenDataChannel'])],
      ['ReadOwnEnvironmentParameters', ['ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParametersByPath']],
      ['ReadOwnConfigSecrets', ['secretsmanager:GetSecretValue']],
      ['ShipOwnEnvironmentLogs', ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents']],
      ['CreateOwnEnvironmentLogGroups', ['logs:CreateLogGroup', 'logs:DescribeLogGroups', 'logs:PutRetentionPolicy']],
      ['ReportReleaseRun', ['ssm:PutParameter']],
      ['ReportCommandRun', ['ssm:PutParameter']],
    ]);
    const [parameters, configSecrets, logs, groups, report, runReport] = named.filter((s) => s.Sid !== 'SessionManagerAgent').map((s) => JSON.stringify(s.Resource));
    // herd config --secret values: the environment's config secrets only.
    expect(configSecrets).toContain(':secret:herd/mootube/staging/config/*"');
    expect(configSecrets).toBe(JSON.stringify(statementsOf('WebInstanceRoleDefaultPolicy').find((s) => s.Sid === 'ReadOwnConfigSecrets')?.Resource));
    expect(runReport).toContain(':parameter/herd/mootube/staging/run-results/*"');
    expect(groups).toContain(':log-group:/herd/mootube/staging/*"');
    expect(parameters).toContain(':parameter/herd/mootube/staging"');
    expect(parameters).toContain(':parameter/herd/mootube/staging/*"');
    expect(logs).toContain(':log-group:/herd/mootube/staging/*:*');
    expect(report).toContain(':parameter/herd/mootube/staging/release-runs/*"');

    // The rest is the secrets' read grant (CDK adds it without a Sid): the fleets', with the
    // database master's login in place of the application's (migrations own the schema).
    const secretsOf = (list: Statement[]) => {
      const grants = list.filter((s) => s.Sid === undefined);
      for (const s of grants) expect([...actionsOf(s)].sort()).toEqual(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']);
      return grants.flatMap(resourcesOf).map((r) => JSON.stringify(r)).sort();
    };
    const secrets = secretsOf(statements);
    expect(secrets).toEqual([
      expect.stringContaining('CacheAuthToken'),
      expect.stringContaining('DatabaseInstanceSecretAttachment'),
      expect.stringContaining('SecretKey'),
    ]);
    for (const fleet of ['WebInstanceRoleDefaultPolicy', 'WorkerInstanceRoleDefaultPolicy']) {
      expect([fleet, secretsOf(statementsOf(fleet))]).toEqual([fleet, [
        expect.stringContaining('CacheAuthToken'),
        expect.stringContaining('DatabaseCredentialsAppSecretAttachment'),
        expect.stringContaining('SecretKey'),
      ]]);
    }
  });

  test('is an EC2 role with Session Manager, in an instance profile the advance function is told of', () => {
    const id = runnerRoleId();
    expect(id).toMatch(/^DeployStepRunnerRole/);
    template.hasResourceProperties('AWS::IAM::Role', {
      Description: 'herd mootube staging migration runner',
      AssumeRolePolicyDocument: Match.objectLike({ Statement: [Match.objectLike({ Principal: { Service: 'ec2.amazonaws.com' } })] }),
      ManagedPolicyArns: Match.absent(),
    });
    expect(statementsOf('DeployStepRunnerRoleDefaultPolicy').find((s) => s.Sid === 'SessionManagerAgent')).toBeDefined();
    const profiles = template.findResources('AWS::IAM::InstanceProfile', { Properties: { Roles: [{ Ref: id }] } });
    const [profileId] = Object.keys(profiles);
    expect(profileId).toMatch(/^DeployStepRunnerProfile/);
    const fn = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Description: 'herd staging: advances a deploy by one step' } }))[0];
    const json = (fn?.Properties as { Environment: { Variables: { DEPLOY_ENVIRONMENT: { 'Fn::Join': [string, unknown[]] } } } }).Environment.Variables.DEPLOY_ENVIRONMENT;
    const parts = json['Fn::Join'][1];
    const at = parts.findIndex((p) => typeof p === 'string' && p.endsWith('"runnerInstanceProfileArn":"'));
    expect(at).toBeGreaterThanOrEqual(0);
    expect(parts[at + 1]).toEqual({ 'Fn::GetAtt': [profileId, 'Arn'] });
  });

  test('web servers may no longer write parameters (a runner\'s report among them)', () => {
    for (const prefix of ['WebInstanceRoleDefaultPolicy', 'WorkerInstanceRoleDefaultPolicy']) {
      const statements = statementsOf(prefix);
      expect(statements.map((s) => s.Sid)).not.toContain('ReportReleaseRun');
      expect(statements.map((s) => s.Sid)).not.toContain('ReportCommandRun');
      expect(statements.flatMap(actionsOf)).not.toContain('ssm:PutParameter');
      expect(JSON.stringify(statements)).not.toContain('release-runs');
      expect(JSON.stringify(statements)).not.toContain('run-results');
    }
  });

  test('herd run launches as the runner: its profile, role and subnets are stack outputs; its output has a log group with retention', () => {
    const id = runnerRoleId();
    const [profileId] = Object.keys(template.findResources('AWS::IAM::InstanceProfile', { Properties: { Roles: [{ Ref: id }] } }));
    template.hasOutput('RunnerInstanceProfileArn', { Value: { 'Fn::GetAtt': [profileId, 'Arn'] } });
    template.hasOutput('RunnerRoleArn', { Value: { 'Fn::GetAtt': [id, 'Arn'] } });
    const subnets = JSON.stringify(template.findOutputs('RunnerSubnetIds'));
    expect(subnets).toContain('PrivateSubnet');
    expect(subnets).not.toContain('PublicSubnet');
    template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/herd/mootube/staging/run', RetentionInDays: Match.anyValue() });
  });

  test('the advance function may pass the runner role to EC2', () => {
    const pass = advanceStatements.find((s) => s.Sid === 'PassInstanceRoles')!;
    expect(actionsOf(pass)).toEqual(['iam:PassRole']);
    expect(resourcesOf(pass)).toContainEqual({ 'Fn::GetAtt': [runnerRoleId(), 'Arn'] });
    expect(pass.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } });
  });
});

describe('the role keeper after a migration', () => {
  const keeperId = () => {
    const ids = Object.keys(template.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('keeps the app\'s PostgreSQL group role') } }));
    expect(ids).toHaveLength(1);
    return ids[0]!;
  };

  test('the advance function is told the keeper\'s ARN, and may invoke that function only (no version, alias or other function)', () => {
    const fn = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Description: 'herd staging: advances a deploy by one step' } }))[0];
    // DEPLOY_ENVIRONMENT is a Fn::Join: the part after `"roleKeeperFunctionArn":"` is the keeper's ARN.
    const parts = (fn.Properties as { Environment: { Variables: { DEPLOY_ENVIRONMENT: { 'Fn::Join': [string, unknown[]] } } } }).Environment.Variables.DEPLOY_ENVIRONMENT['Fn::Join'][1];
    const at = parts.findIndex((p) => typeof p === 'string' && p.endsWith('"roleKeeperFunctionArn":"'));
    expect(parts[at + 1]).toEqual({ 'Fn::GetAtt': [keeperId(), 'Arn'] });
    const invokes = advanceStatements.filter((s) => actionsOf(s).some((a) => a.startsWith('lambda:')));
    expect(invokes.map((s) => [s.Sid, actionsOf(s), resourcesOf(s)])).toEqual([['InvokeRoleKeeper', ['lambda:InvokeFunction'], [{ 'Fn::GetAtt': [keeperId(), 'Arn'] }]]]);
  });

  test(`the advance function's timeout leaves room after the keeper's longest wait (${KEEPER_WAIT_SECONDS} s)`, () => {
    const fn = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Description: 'herd staging: advances a deploy by one step' } }))[0];
    expect((fn.Properties as { Timeout: number }).Timeout - KEEPER_WAIT_SECONDS).toBeGreaterThanOrEqual(30);
  });
});

describe('the state machine', () => {
  let definition: string;
  beforeAll(() => {
    const machine = Object.values(template.findResources('AWS::StepFunctions::StateMachine'))[0];
    definition = JSON.stringify((machine.Properties as { DefinitionString: unknown }).DefinitionString);
  });

  test('loops advance → wait $.waitSeconds until the state says done', () => {
    expect(definition).toContain('\\"SecondsPath\\":\\"$.waitSeconds\\"');
    expect(definition).toContain('\\"Variable\\":\\"$.done\\",\\"BooleanEquals\\":true');
    expect(definition).toMatch(/\\"CausePath\\":\\"\$\.failure\.cause\\"/);
  });

  test('retries Lambda errors, refuses at once what changed nothing, and compensates otherwise', () => {
    // Refusals first, never retried: the next retrier's States.TaskFailed would match them.
    expect(definition).toContain('\\"Retry\\":[{\\"ErrorEquals\\":[\\"DeployLockedError\\",\\"EnvironmentBusyError\\",\\"PreflightError\\",\\"InvalidDeployInputError\\",\\"InvalidDeployEnvironmentError\\"],\\"MaxAttempts\\":0}');
    expect(definition).toContain('\\"ErrorEquals\\":[\\"Lambda.ServiceException\\"');
    expect(definition).toContain('\\"ErrorEquals\\":[\\"DeployLockedError\\",\\"EnvironmentBusyError\\",\\"PreflightError\\",\\"InvalidDeployInputError\\",\\"InvalidDeployEnvironmentError\\"],\\"Next\\":\\"Refused\\"');
    expect(definition).toContain('\\"ErrorEquals\\":[\\"States.ALL\\"],\\"ResultPath\\":\\"$.lambdaError\\",\\"Next\\":\\"BackoffAfterError\\"');
    // Each outcome ends at its own state: the release served (deployed or already), or a Fail with the outcome's error.
    expect(definition).toContain('\\"Serving\\":{\\"Type\\":\\"Succeed\\"');
    expect(definition).toMatch(/\\"StringEquals\\":\\"unchanged\\"}]}],\\"Next\\":\\"Serving\\"/);
    for (const [state, error] of [['RolledBack', 'DeployFailed'], ['NeedsAttention', 'DeployNeedsAttention'], ['Aborted', 'DeployAborted']]) {
      expect(definition).toMatch(new RegExp(`\\\\"${state}\\\\":{\\\\"Type\\\\":\\\\"Fail\\\\",[^}]*\\\\"Error\\\\":\\\\"${error}\\\\"`));
    }
  });

  test('logs every execution, traces with X-Ray, and has an overall time limit', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ Level: 'ALL' }),
    });
    // The worst case the deploy settings allow, plus a quarter (lambda/deploy/budget.ts).
    const staging = built.config.environments.find((e) => e.name === 'staging')!;
    expect(definition).toContain(`\\"TimeoutSeconds\\":${stateMachineTimeoutSeconds(staging.deploy)}`);
  });

  test('is named in the stack outputs for the CLI', () => {
    template.hasOutput('DeployStateMachineArn', { Value: { Ref: Match.stringLikeRegexp('^DeployStepStateMachine') } });
    template.hasOutput('DeployTableName', { Value: { Ref: 'DeployStepTable47365947' } });
  });
});

/** What publishing deploy notifications adds to a role (`DeployStep.grantDeployNotifications`). */
const NOTIFICATION_STATEMENTS = [
  ['PublishDeployNotifications', ['sns:Publish']],
  ['EncryptDeployNotifications', ['kms:GenerateDataKey*', 'kms:Decrypt']],
  ['PutDeployEvents', ['events:PutEvents']],
];

describe('pre-flight and the alarm watch', () => {
  test('the advance function reads only the rollback alarms, and only release artifacts (listing limited to their prefix)', () => {
    const statements = roleStatements('DeployStepAdvanceServiceRoleDefaultPolicy');
    const bySid = (sid: string) => statements.find((s) => s.Sid === sid);
    const alarms = bySid('ReadRollbackAlarms');
    expect(alarms?.Action).toBe('cloudwatch:DescribeAlarms');
    expect(JSON.stringify(alarms?.Resource)).toMatch(/"Fn::GetAtt":\["LoadBalancerTarget5xx\w+","Arn"\]/);
    expect(JSON.stringify(alarms?.Resource)).not.toMatch(/UnhealthyHosts|Latency/);
    expect(bySid('CheckArtifacts')).toMatchObject({ Action: 's3:GetObject' });
    expect(JSON.stringify(bySid('CheckArtifacts')?.Resource)).toMatch(/\/releases\/\*"\]\]\}$/);
    expect(bySid('ListArtifacts')).toMatchObject({ Action: 's3:ListBucket', Condition: { StringLike: { 's3:prefix': ['releases/*'] } } });
  });

  test('the advance function reads only the streams of its own environment\'s boot log group (an unhealthy release\'s diagnosis)', () => {
    const logs = roleStatements('DeployStepAdvanceServiceRoleDefaultPolicy').filter((s) => JSON.stringify(s.Action).includes('logs:'));
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ Sid: 'ReadBootLogs', Action: 'logs:GetLogEvents' });
    expect(JSON.stringify(logs[0]?.Resource)).toMatch(/:log-group:\/herd\/mootube\/staging\/boot:log-stream:\*"\]\]\}$/);
  });

  test('the stack tells the CLI which alarms roll deploys back', () => {
    const output = template.toJSON().Outputs.RollbackAlarms as { Value: unknown };
    // One alarm: CDK folds the join to the alarm's name.
    expect(JSON.stringify(output.Value)).toMatch(/^\{"Ref":"LoadBalancerTarget5xx\w+"\}$/);
  });
});

describe('deploy notifications', () => {
  const statementsOf = (prefix: string): Statement[] => roleStatements(prefix);

  test('the advance function is told the environment\'s notifications topic (the one its alarms use)', () => {
    const fn = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Description: 'herd staging: advances a deploy by one step' } }))[0];
    const value = (fn?.Properties as { Environment: { Variables: { DEPLOY_ENVIRONMENT: { 'Fn::Join': [string, unknown[]] } } } }).Environment.Variables.DEPLOY_ENVIRONMENT;
    const parts = value['Fn::Join'][1];
    const at = parts.findIndex((p) => typeof p === 'string' && p.endsWith('"notificationTopicArn":"'));
    const [topicId] = Object.keys(template.findResources('AWS::SNS::Topic'));
    expect(parts[at + 1]).toEqual({ Ref: topicId });
    const alarm = Object.values(template.findResources('AWS::CloudWatch::Alarm'))[0];
    expect(JSON.stringify((alarm?.Properties as { AlarmActions: unknown }).AlarmActions)).toMatch(/"Ref":"NotificationsTopic[0-9A-F]+"/);
  });

  test.each([['advance function', 'DeployStepAdvanceServiceRoleDefaultPolicy'], ['reaper', 'DeployStepReaperServiceRoleDefaultPolicy']])(
    'the %s may publish to that topic only, use its key through SNS only, and put only herd\'s events on the default bus',
    (_name, prefix) => {
      const statements = statementsOf(prefix).filter((s) => NOTIFICATION_STATEMENTS.some(([sid]) => sid === s.Sid));
      expect(statements.map((s) => [s.Sid, actionsOf(s)])).toEqual(NOTIFICATION_STATEMENTS);
      const [publish, key, events] = statements;
      expect(publish?.Resource).toEqual({ Ref: expect.stringMatching(/^NotificationsTopic[0-9A-F]+$/) });
      expect(publish?.Condition).toBeUndefined();
      expect(key?.Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^NotificationsKey[0-9A-F]+$/), 'Arn'] });
      expect(key?.Condition).toEqual({ StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['sns.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } });
      expect(events?.Resource).toEqual({
        'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':events:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':event-bus/default']],
      });
      expect(events?.Condition).toEqual({ 'ForAllValues:StringEquals': { 'events:source': ['herd'], 'events:detail-type': ['herd Deploy Status Change'] } });
    },
  );
});

describe('the reaper', () => {
  test('receives every execution of the state machine that ends FAILED, TIMED_OUT or ABORTED', () => {
    // The deploy step's own rule (the stack's other one restarts the fleets after a rotation: test/stacks/database-credentials.test.ts).
    const rules = Object.fromEntries(Object.entries(template.findResources('AWS::Events::Rule')).filter(([id]) => id.startsWith('DeployStep')));
    const [rule] = Object.values(rules);
    expect(Object.keys(rules)).toHaveLength(1);
    const props = rule!.Properties as { EventPattern: Record<string, unknown>; Targets: { Arn: unknown; RetryPolicy: unknown }[] };
    expect(props.EventPattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: { stateMachineArn: [{ Ref: expect.stringMatching(/^DeployStepStateMachine/) }], status: ['FAILED', 'TIMED_OUT', 'ABORTED'] },
    });
    expect(JSON.stringify(props.Targets[0]?.Arn)).toContain('DeployStepReaper');
    expect(props.Targets[0]?.RetryPolicy).toEqual({ MaximumEventAgeInSeconds: 21600, MaximumRetryAttempts: 8 });
  });

  test('may read its executions\' history, start a new one of the same state machine, and read and write the deploy table', () => {
    const policy = Object.entries(template.findResources('AWS::IAM::Policy')).find(([id]) => id.startsWith('DeployStepReaperServiceRoleDefaultPolicy'))!;
    const statements = (policy[1].Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement;
    expect(statements.map((s) => [s.Sid, actionsOf(s)])).toEqual([
      ['ReadLockWriteHistory', ['dynamodb:GetItem', 'dynamodb:PutItem']],
      ['ResumeDeploy', ['states:StartExecution']],
      ['ReadExecutionHistory', ['states:GetExecutionHistory']],
      ...NOTIFICATION_STATEMENTS,
    ]);
    expect(JSON.stringify(statements[1]!.Resource)).toMatch(/^\{"Ref":"DeployStepStateMachine/);
    expect(JSON.stringify(statements[2]!.Resource)).toContain(':execution:');
  });
});
