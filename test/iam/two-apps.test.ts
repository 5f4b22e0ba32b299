/**
 * Two herd apps in one account, each with an environment of the same name (`production`):
 * every principal of one app (the deploy step, the reaper, the deploy guard, the release-state
 * resource, the builder, runner and fleet instance roles, the operator's generated policy) is
 * evaluated, action by action, on its own app's resources — allowed — and on the other app's —
 * denied. Both apps' templates are synthesized as `herd-production` (stack names do not hold
 * the app: two apps cannot share an account and an environment name in CloudFormation, see
 * `lib/names.ts` `stackName`); their ids and ARNs are made distinct per app as AWS would make
 * them, so ARN scoping and tag conditions are both put to the test.
 */
import { createHash } from 'node:crypto';
import { configSecretPrefix } from '../../lib/app-settings';
import { operatorPolicy } from '../../lib/cli/iam-policy';
import { TAGS, logGroupName, parameterNames } from '../../lib/names';
import { requestTagContext, resourceTagContext, type IamRequest } from '../../lib/simulation/iam/requests';
import { SIMULATED_ACCOUNT as A, SIMULATED_REGION as R } from '../../lib/simulation/world';
import { evaluate, type Principal } from '../support/iam/evaluator';
import { synthesizedTemplates } from '../support/iam/synth';
import { TemplateResolver, type PolicyDocument, type TemplateJson } from '../support/iam/template-policies';
import { ENVIRONMENT_PRINCIPALS, roleByPrefix, worldSettings } from '../support/iam/world-iam';

const ENV = 'production';
const APPS = ['shop', 'blog'] as const;
type App = (typeof APPS)[number];

const hex = (text: string, width: number) => createHash('sha256').update(text).digest('hex').slice(0, width);

/**
 * A resolver whose made-up ids and names hold the app: the two templates have the same
 * logical ids, and AWS gives each app's resources ids and ARNs of their own.
 */
function appResolver(template: TemplateJson, app: string, stackName: string): TemplateResolver {
  const plain = new TemplateResolver(template, { account: A, region: R, stackName });
  const known = new Map<string, string>();
  for (const [id, r] of Object.entries(template.Resources)) {
    // A secret attachment's Ref is the secret's ARN.
    if (r.Type === 'AWS::SecretsManager::SecretTargetAttachment') {
      known.set(JSON.stringify({ Ref: id }), `arn:aws:secretsmanager:${R}:${A}:secret:${app}${id}-AbCdEf`);
      continue;
    }
    const value = plain.ref(id);
    const salted = /^(sg|subnet|lt)-[0-9a-f]{17}$/.test(value)
      ? `${value.split('-')[0]}-${hex(`${app}/${id}`, 17)}`
      : value.includes(id) ? value.replace(id, `${app}${id}`) : `${app}-${value}`;
    known.set(JSON.stringify({ Ref: id }), salted);
  }
  return new TemplateResolver(template, { account: A, region: R, stackName, known });
}

interface AppWorld {
  readonly app: App;
  readonly principals: Map<string, Principal>;
  /** Resolved stack outputs. */
  readonly outputs: Record<string, string>;
  readonly resolver: TemplateResolver;
  readonly template: TemplateJson;
}

function appWorld(app: App): AppWorld {
  const templates = synthesizedTemplates(worldSettings(app, ENV))[ENV];
  if (!templates) throw new Error(`no templates for ${app}/${ENV}`);
  const stackName = `herd-${ENV}`;
  const resolver = appResolver(templates.environment, app, stackName);
  const roles = resolver.roles();
  const principals = new Map<string, Principal>();
  for (const [name, prefix] of Object.entries(ENVIRONMENT_PRINCIPALS)) principals.set(name, roleByPrefix(roles, prefix, name));
  const releaseState = appResolver(templates.releaseState, app, `${stackName}-release-state`);
  principals.set('release-state', roleByPrefix(releaseState.roles(), 'ReleaseStateFunctionServiceRole', 'release-state'));
  const raw = (templates.environment as unknown as { Outputs: Record<string, { Value: unknown }> }).Outputs;
  const outputs = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, String(resolver.resolve(v.Value))]));
  const operator = operatorPolicy({
    app,
    env: ENV,
    stackName,
    deployStateMachineArn: outputs.DeployStateMachineArn ?? '',
    deployTableName: outputs.DeployTableName ?? '',
    artifactsBucket: outputs.ArtifactsBucket ?? '',
    parameterRoot: outputs.ParameterRoot ?? '',
    listenerArn: outputs.ListenerArn ?? '',
    rollbackAlarms: (outputs.RollbackAlarms ?? '').split(',').filter(Boolean),
    artifactPrefix: 'releases/',
    launchTemplateIds: [outputs.WebLaunchTemplateId ?? '', outputs.WorkerLaunchTemplateId ?? ''],
    runner: { roleArn: outputs.RunnerRoleArn ?? '', subnetIds: (outputs.RunnerSubnetIds ?? '').split(',') },
  }, 'deploy');
  principals.set('operator', { name: 'operator', arn: `arn:aws:iam::${A}:user/${app}-operator`, policies: [{ name: `${app}-operator`, document: operator as unknown as PolicyDocument }] });
  return { app, principals, outputs, resolver, template: templates.environment };
}

/** The logical id of the one resource of `type` whose id starts with `prefix`. */
function logicalId(w: AppWorld, type: string, prefix: string): string {
  const ids = Object.entries(w.template.Resources).filter(([id, r]) => r.Type === type && id.startsWith(prefix)).map(([id]) => id);
  if (ids.length !== 1) throw new Error(`${ids.length} ${type} ${prefix}*`);
  return ids[0]!;
}

/** The resources of one app's environment, with the tags AWS holds for them (the stack's, the deploy step's, the CLI's). */
function resourcesOf(w: AppWorld) {
  const { app } = w;
  const tags = { [TAGS.app]: app, [TAGS.environment]: ENV };
  const names = parameterNames(app, ENV);
  const ec2 = (type: string, id: string) => `arn:aws:ec2:${R}:${A}:${type}/${id}`;
  const group = `arn:aws:autoscaling:${R}:${A}:autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/${w.outputs.WebAutoScalingGroup}`;
  const listener = w.outputs.ListenerArn ?? '';
  const sg = (prefix: string) => w.resolver.ref(logicalId(w, 'AWS::EC2::SecurityGroup', prefix));
  const dbId = w.resolver.ref(logicalId(w, 'AWS::RDS::DBInstance', 'DatabaseInstance'));
  const subnet = (w.outputs.RunnerSubnetIds ?? '').split(',')[0] ?? '';
  return {
    tags,
    parameter: (name: string) => `arn:aws:ssm:${R}:${A}:parameter${name}`,
    names,
    instance: (role: string) => ({ resource: ec2('instance', `i-${hex(`${app}/${role}`, 17)}`), context: resourceTagContext({ ...tags, [TAGS.role]: role }) }),
    sessionInstance: { resource: ec2('instance', `i-${hex(`${app}/web`, 17)}`), context: resourceTagContext({ ...tags, [TAGS.role]: 'web' }, 'ssm') },
    launch: (role: string) => ({ resource: ec2('instance', '*'), context: requestTagContext(Object.entries({ ...tags, [TAGS.role]: role }).map(([Key, Value]) => ({ Key, Value }))) }),
    createTags: (role: string) => ({ resource: ec2('instance', '*'), context: { 'ec2:CreateAction': 'RunInstances', ...requestTagContext(Object.entries({ ...tags, [TAGS.role]: role }).map(([Key, Value]) => ({ Key, Value }))) } }),
    newImage: { resource: `arn:aws:ec2:${R}::image/*`, context: requestTagContext(Object.entries(tags).map(([Key, Value]) => ({ Key, Value }))) },
    image: { resource: `arn:aws:ec2:${R}::image/ami-${hex(app, 17)}`, context: { 'ec2:Owner': A, ...resourceTagContext(tags) } },
    snapshot: { resource: `arn:aws:ec2:${R}::snapshot/snap-${hex(app, 17)}`, context: resourceTagContext(tags) },
    launchTemplate: { resource: ec2('launch-template', w.outputs.WebLaunchTemplateId ?? ''), context: resourceTagContext(tags) },
    subnet: { resource: ec2('subnet', subnet), context: {} },
    networkInterface: { resource: ec2('network-interface', '*'), context: { 'ec2:Subnet': ec2('subnet', subnet) } },
    builderSecurityGroup: { resource: ec2('security-group', sg('DeployStepBuilderSecurityGroup')), context: resourceTagContext(tags) },
    webSecurityGroup: { resource: ec2('security-group', sg('WebSecurityGroup')), context: resourceTagContext(tags) },
    group: { resource: group, context: resourceTagContext(tags, 'autoscaling') },
    listener: { resource: listener, context: requestTagContext(Object.entries(tags).map(([Key, Value]) => ({ Key, Value }))) },
    rule: { resource: `${listener.replace(':listener/', ':listener-rule/')}/0123456789abcdef`, context: resourceTagContext(tags) },
    table: { resource: w.resolver.attr(logicalId(w, 'AWS::DynamoDB::Table', 'DeployStepTable'), 'Arn'), context: {} },
    stateMachine: { resource: w.outputs.DeployStateMachineArn ?? '', context: {} },
    execution: { resource: `${(w.outputs.DeployStateMachineArn ?? '').replace(':stateMachine:', ':execution:')}:deploy-1`, context: {} },
    artifact: { resource: `arn:aws:s3:::${w.outputs.ArtifactsBucket}/releases/r1.tar.gz`, context: {} },
    configSecret: { resource: `arn:aws:secretsmanager:${R}:${A}:secret:${configSecretPrefix(app, ENV)}API_KEY-AbCdEf`, context: {} },
    databaseSecret: { resource: w.outputs.DatabaseSecretArn ?? '', context: {} },
    appDatabaseSecret: { resource: w.outputs.DatabaseAppSecretArn ?? '', context: {} },
    logStream: { resource: `arn:aws:logs:${R}:${A}:log-group:${logGroupName(app, ENV, 'web')}:log-stream:i-1`, context: {} },
    processLogGroup: { resource: `arn:aws:logs:${R}:${A}:log-group:${logGroupName(app, ENV, 'clock')}`, context: {} },
    db: { resource: `arn:aws:rds:${R}:${A}:db:${dbId}`, context: {} },
    newDbSnapshot: { resource: `arn:aws:rds:${R}:${A}:snapshot:herd-${app}-${ENV}-deploy-1`, context: requestTagContext(Object.entries(tags).map(([Key, Value]) => ({ Key, Value })), 'rds') },
    dbSnapshot: { resource: `arn:aws:rds:${R}:${A}:snapshot:herd-${app}-${ENV}-deploy-1`, context: resourceTagContext(tags) },
    // Named before snapshot names held the app: both apps' are `herd-production-…`, told apart by their tags only.
    legacyDbSnapshot: { resource: `arn:aws:rds:${R}:${A}:snapshot:herd-${ENV}-deploy-0`, context: resourceTagContext(tags) },
    runnerRole: { resource: w.outputs.RunnerRoleArn ?? '', context: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
  };
}

type Resources = ReturnType<typeof resourcesOf>;
type Case = [principal: string, action: string, request: (r: Resources) => { resource: string; context: IamRequest['context'] }];

const p = (name: string) => (r: Resources) => ({ resource: r.parameter(name.replace('<app>', r.tags[TAGS.app] ?? '')), context: {} });
const root = (path: string) => `/herd/<app>/${ENV}/${path}`;

/** What each principal does to its own app's resources: each must be allowed on its own, denied on the other app's. */
const CASES: Case[] = [
  ['deploy-step', 'ec2:RunInstances', (r) => r.launch('builder')],
  ['deploy-step', 'ec2:RunInstances', (r) => r.launchTemplate],
  ['deploy-step', 'ec2:RunInstances', (r) => r.subnet],
  ['deploy-step', 'ec2:RunInstances', (r) => r.networkInterface],
  ['deploy-step', 'ec2:RunInstances', (r) => r.builderSecurityGroup],
  ['deploy-step', 'ec2:CreateTags', (r) => r.createTags('builder')],
  ['deploy-step', 'ec2:CreateImage', (r) => r.instance('builder')],
  ['deploy-step', 'ec2:CreateImage', (r) => r.newImage],
  ['deploy-step', 'ec2:TerminateInstances', (r) => r.instance('builder')],
  ['deploy-step', 'ec2:TerminateInstances', (r) => r.instance('release')],
  ['deploy-step', 'ec2:DeregisterImage', (r) => r.image],
  ['deploy-step', 'ec2:DeleteSnapshot', (r) => r.snapshot],
  ['deploy-step', 'ec2:CreateLaunchTemplateVersion', (r) => r.launchTemplate],
  ...['StartInstanceRefresh', 'RollbackInstanceRefresh', 'CancelInstanceRefresh', 'UpdateAutoScalingGroup', 'SuspendProcesses', 'ResumeProcesses', 'TerminateInstanceInAutoScalingGroup', 'SetDesiredCapacity']
    .map((a): Case => ['deploy-step', `autoscaling:${a}`, (r) => r.group]),
  ['deploy-step', 'elasticloadbalancing:CreateRule', (r) => r.listener],
  ['deploy-step', 'elasticloadbalancing:DeleteRule', (r) => r.rule],
  ['deploy-step', 'ssm:PutParameter', p(root('current-image'))],
  ['deploy-step', 'ssm:PutParameter', p(root('current-release'))],
  ['deploy-step', 'ssm:DeleteParameter', p(root('bake-runs/i-1'))],
  ['deploy-step', 'dynamodb:PutItem', (r) => r.table],
  ['deploy-step', 'rds:CreateDBSnapshot', (r) => r.db],
  ['deploy-step', 'rds:CreateDBSnapshot', (r) => r.newDbSnapshot],
  ['deploy-step', 'rds:AddTagsToResource', (r) => r.newDbSnapshot],
  ['deploy-step', 'rds:DeleteDBSnapshot', (r) => r.dbSnapshot],
  ['deploy-step', 'rds:DeleteDBSnapshot', (r) => r.legacyDbSnapshot],
  ['deploy-step', 'iam:PassRole', (r) => r.runnerRole],
  ['reaper', 'states:StartExecution', (r) => r.stateMachine],
  ['reaper', 'dynamodb:PutItem', (r) => r.table],
  ['deploy-guard', 'dynamodb:PutItem', (r) => r.table],
  ['deploy-guard', 'ssm:PutParameter', p(root('current-release'))],
  ['release-state', 'ssm:PutParameter', p(root('current-image'))],
  ['release-state', 'ssm:PutParameter', p(root('current-release'))],
  ['release-state', 'ssm:DeleteParameter', p(root('current-release'))],
  ['builder', 'ssm:PutParameter', p(root('bake-runs/i-1'))],
  ['runner', 'ssm:PutParameter', p(root('release-runs/i-1'))],
  ['runner', 'ssm:PutParameter', p(root('run-results/i-1'))],
  // The instances' reads: with AmazonSSMManagedInstanceCore, every instance could read every parameter of the account.
  ...(['web', 'worker', 'runner'] as const).flatMap((role): Case[] => [
    [role, 'ssm:GetParameter', p(root('env/DATABASE_HOST'))],
    [role, 'ssm:GetParameters', p(root('secret-env/SECRET_KEY'))],
    [role, 'ssm:GetParameter', p(root('current-image'))],
    [role, 'secretsmanager:GetSecretValue', (r) => r.configSecret],
    // Web and worker log in as the application user; only the runner (migrations, herd run) as the owner.
    [role, 'secretsmanager:GetSecretValue', (r) => (role === 'runner' ? r.databaseSecret : r.appDatabaseSecret)],
    [role, 'logs:PutLogEvents', (r) => r.logStream],
    [role, 'logs:CreateLogGroup', (r) => r.processLogGroup],
  ]),
  ['builder', 's3:GetObject', (r) => r.artifact],
  ['operator', 'states:StartExecution', (r) => r.stateMachine],
  ['operator', 'states:StopExecution', (r) => r.execution],
  ['operator', 'dynamodb:PutItem', (r) => r.table],
  ['operator', 's3:PutObject', (r) => r.artifact],
  ['operator', 'ssm:PutParameter', p(root('env/FEATURE_FLAG'))],
  ['operator', 'ssm:DeleteParameter', p(root('env/FEATURE_FLAG'))],
  ['operator', 'secretsmanager:PutSecretValue', (r) => r.configSecret],
  ['operator', 'secretsmanager:DeleteSecret', (r) => r.configSecret],
  ['operator', 'autoscaling:SuspendProcesses', (r) => r.group],
  ['operator', 'ec2:DeregisterImage', (r) => r.image],
  ['operator', 'ec2:DeleteSnapshot', (r) => r.snapshot],
  ['operator', 'ec2:RunInstances', (r) => r.launch('run')],
  ['operator', 'ec2:RunInstances', (r) => r.launchTemplate],
  ['operator', 'ec2:RunInstances', (r) => r.subnet],
  ['operator', 'ec2:RunInstances', (r) => r.networkInterface],
  ['operator', 'ec2:RunInstances', (r) => r.webSecurityGroup],
  ['operator', 'ec2:CreateTags', (r) => r.createTags('run')],
  ['operator', 'ec2:TerminateInstances', (r) => r.instance('run')],
  ['operator', 'iam:PassRole', (r) => r.runnerRole],
  ['operator', 'ssm:StartSession', (r) => r.sessionInstance],
  ['operator', 'elasticloadbalancing:CreateRule', (r) => r.listener],
  ['operator', 'elasticloadbalancing:DeleteRule', (r) => r.rule],
  ['operator', 'ssm:DeleteParameter', p(root('run-results/i-1'))],
];

/** What a principal may do on no app's resources, its own included (AmazonSSMManagedInstanceCore allowed the parameter reads). */
const NEVER: Case[] = [
  ['builder', 'ssm:GetParameter', p(root('env/DATABASE_HOST'))],
  ['builder', 'ssm:GetParameters', p(root('secret-env/SECRET_KEY'))],
  ['web', 'ssm:PutParameter', p(root('release-runs/i-1'))],
  ['worker', 'ssm:PutParameter', p(root('current-image'))],
];

let worlds: Record<App, AppWorld>;
let resources: Record<App, Resources>;
beforeAll(() => {
  worlds = { shop: appWorld('shop'), blog: appWorld('blog') };
  resources = { shop: resourcesOf(worlds.shop), blog: resourcesOf(worlds.blog) };
});

describe('two apps with an environment of the same name, in one account', () => {
  test('synthesize to the same stack names: CloudFormation can hold only one of them (herd-<env> does not name the app)', () => {
    const names = APPS.map((app) => Object.keys(synthesizedTemplates(worldSettings(app, ENV))));
    expect(names[0]).toEqual([ENV]);
    expect(names[1]).toEqual([ENV]);
  });

  test.each(APPS.map((app) => [app]))('%s\'s template tags what the conditions name: security groups, launch templates (and what they launch), groups (propagated), the database', (app) => {
    const untagged: string[] = [];
    const has = (tags: unknown, propagate = false) => [TAGS.app, TAGS.environment].every((key) =>
      ((tags as { Key: string; Value: string; PropagateAtLaunch?: boolean }[] | undefined) ?? []).some((t) => t.Key === key && t.Value === (key === TAGS.app ? app : ENV) && (!propagate || t.PropagateAtLaunch === true)));
    for (const [id, r] of Object.entries(worlds[app].template.Resources)) {
      const props = r.Properties ?? {};
      if (['AWS::EC2::SecurityGroup', 'AWS::RDS::DBInstance'].includes(r.Type) && !has(props.Tags)) untagged.push(id);
      if (r.Type === 'AWS::AutoScaling::AutoScalingGroup' && !has(props.Tags, true)) untagged.push(id);
      if (r.Type === 'AWS::EC2::LaunchTemplate') {
        const specs = [...((props.TagSpecifications as { ResourceType: string; Tags: unknown }[] | undefined) ?? []), ...(((props.LaunchTemplateData as { TagSpecifications?: { ResourceType: string; Tags: unknown }[] } | undefined)?.TagSpecifications) ?? [])];
        for (const type of ['launch-template', 'instance', 'volume']) if (!has(specs.find((t) => t.ResourceType === type)?.Tags)) untagged.push(`${id} (${type})`);
      }
    }
    expect(untagged).toEqual([]);
  });

  test.each(APPS.map((app) => [app, APPS.find((a) => a !== app)!]))('%s\'s principals may change their own resources and none of %s\'s', async (own, other) => {
    const wrong: string[] = [];
    for (const [name, action, request] of CASES) {
      const principal = worlds[own].principals.get(name);
      if (!principal) throw new Error(`no principal ${name}`);
      for (const [whose, expected] of [[own, 'Allowed'], [other, 'denied']] as const) {
        const { resource, context } = request(resources[whose]);
        const result = await evaluate(principal, { action, resource, context });
        const ok = expected === 'Allowed' ? result === 'Allowed' : /Denied$/.test(result);
        if (!ok) wrong.push(`${own}'s ${name} ${action} on ${whose}'s ${resource} ${JSON.stringify(context)}: ${result} (expected ${expected})`);
      }
    }
    expect(wrong).toEqual([]);
  });

  test.each(APPS.map((app) => [app]))('%s\'s builder reads no app\'s settings, and its servers write no release state', async (own) => {
    const allowed: string[] = [];
    for (const [name, action, request] of NEVER) {
      for (const whose of APPS) {
        const { resource, context } = request(resources[whose]);
        const result = await evaluate(worlds[own].principals.get(name)!, { action, resource, context });
        if (result === 'Allowed') allowed.push(`${own}'s ${name} ${action} on ${resource}`);
      }
    }
    expect(allowed).toEqual([]);
  });
});
