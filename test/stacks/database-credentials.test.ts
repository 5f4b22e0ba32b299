/**
 * The database credentials of an environment (`lib/database-credentials.ts`): who reads which
 * secret, the role keeper, rotation.
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { HerdSettings } from '../../lib/config/types';
import { applicationRoles } from '../../lib/database-credentials';
import { buildApp } from '../support/app';

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown>; DependsOn?: string[] }>;

const TESTING: HerdSettings = {
  app: 'mootube',
  environments: [{ name: 'testing', profile: 'small', account: '123456789012', region: 'eu-west-1' }],
};

describe('database credentials', () => {
  let template: Template;
  beforeAll(() => {
    template = buildApp(TESTING).template('testing');
  });
  const ids = (type: string, props: Record<string, unknown> = {}) => Object.keys(template.findResources(type, { Properties: props }));
  const secretId = (prefix: string) => {
    const id = Object.keys(template.findResources('AWS::SecretsManager::SecretTargetAttachment')).find((i) => i.startsWith(prefix));
    if (!id) throw new Error(`no attachment ${prefix}`);
    return id;
  };

  test('an application secret for <db>_app, with the master\'s ARN for the alternating-users rotation', () => {
    expect(applicationRoles('mootube')).toEqual({ user: 'mootube_app', group: 'mootube_app_group' });
    // With the rotation's _clone suffix a name stays within PostgreSQL's 63 bytes.
    expect(`${applicationRoles('x'.repeat(63)).user}_clone`.length).toBeLessThanOrEqual(63);
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({
        SecretStringTemplate: { 'Fn::Join': ['', ['{"username":"mootube_app","dbname":"mootube","masterarn":"', { Ref: secretId('DatabaseInstanceSecretAttachment') }, '"}']] },
      }),
    });
  });

  test('secret-env/ points web and worker at the application secret; secret-env-owner/ points release and run at the master\'s', () => {
    const app = secretId('DatabaseCredentialsAppSecretAttachment');
    const master = secretId('DatabaseInstanceSecretAttachment');
    for (const [prefix, secret] of [['secret-env', app], ['secret-env-owner', master]] as const) {
      for (const [name, key] of [['DATABASE_USER', 'username'], ['DATABASE_PASSWORD', 'password']]) {
        template.hasResourceProperties('AWS::SSM::Parameter', { Name: `/herd/mootube/testing/${prefix}/${name}`, Value: { 'Fn::Join': ['', [{ Ref: secret }, `#${key}`]] } });
      }
    }
    // Nothing else is the owner's.
    const owner = Object.values(template.findResources('AWS::SSM::Parameter') as Resources).map((p) => String(p.Properties?.Name)).filter((n) => n.includes('/secret-env-owner/'));
    expect(owner.sort()).toEqual(['/herd/mootube/testing/secret-env-owner/DATABASE_PASSWORD', '/herd/mootube/testing/secret-env-owner/DATABASE_USER']);
  });

  test('the role keeper runs in the private subnets with the master and application secrets, as a custom resource after the instance', () => {
    const keeper = ids('AWS::Lambda::Function', { Description: Match.stringLikeRegexp('keeps the app\'s PostgreSQL group role') });
    expect(keeper).toHaveLength(1);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('keeps the app\'s PostgreSQL group role'),
      VpcConfig: Match.objectLike({ SecurityGroupIds: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^DatabaseCredentialsSecurityGroup'), 'GroupId'] }] }),
      Environment: { Variables: Match.objectLike({ GROUP_ROLE: 'mootube_app_group', DATABASE_NAME: 'mootube', NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem' }) },
    });
    const [roles] = Object.values(template.findResources('Custom::HerdDatabaseRoles') as Resources);
    expect(roles.DependsOn).toEqual(expect.arrayContaining([expect.stringMatching(/^DatabaseInstance/)]));
  });

  test('both secrets rotate every 30 days with the hosted PostgreSQL functions, the app\'s after its user exists; no rotation on stack updates', () => {
    expect(template.toJSON().Transform).toEqual(expect.arrayContaining(['AWS::SecretsManager-2024-09-16']));
    const schedules = Object.fromEntries(Object.entries(template.findResources('AWS::SecretsManager::RotationSchedule') as Resources).filter(([, s]) => s.Properties?.HostedRotationLambda));
    const byFunction = Object.fromEntries(Object.entries(schedules).map(([id, s]) => [(s.Properties?.HostedRotationLambda as { RotationType: string }).RotationType, { id, s }]));
    expect(Object.keys(byFunction).sort()).toEqual(['PostgreSQLMultiUser', 'PostgreSQLSingleUser']);
    for (const { s } of Object.values(byFunction)) {
      expect(s.Properties?.RotationRules).toEqual({ ScheduleExpression: 'rate(30 days)' });
      expect(s.Properties?.RotateImmediatelyOnUpdate).toBe(false);
    }
    expect(byFunction.PostgreSQLMultiUser.s.Properties?.HostedRotationLambda).toEqual(expect.objectContaining({ MasterSecretArn: { Ref: secretId('DatabaseInstanceSecretAttachment') } }));
    expect(byFunction.PostgreSQLMultiUser.s.Properties?.SecretId).toEqual({ Ref: secretId('DatabaseCredentialsAppSecretAttachment') });
    expect(byFunction.PostgreSQLMultiUser.s.DependsOn).toEqual(expect.arrayContaining([expect.stringMatching(/^DatabaseCredentialsAppRoles/)]));
  });

  test('a rotation of the application secret starts the restart function, which may start the deploy state machine only', () => {
    const rules = Object.values(template.findResources('AWS::Events::Rule') as Resources).filter((r) => String(r.Properties?.Description).includes('rotated credential'));
    expect(rules).toHaveLength(1);
    expect(rules[0]?.Properties?.EventPattern).toEqual({
      'source': ['aws.secretsmanager'],
      'detail-type': ['AWS Service Event via CloudTrail'],
      'detail': { eventSource: ['secretsmanager.amazonaws.com'], eventName: ['RotationSucceeded'], additionalEventData: { SecretId: [{ Ref: secretId('DatabaseCredentialsAppSecretAttachment') }, { Ref: expect.stringMatching(/^CacheAuthToken/) }] } },
    });
    const policies = Object.entries(template.findResources('AWS::IAM::Policy') as Resources).filter(([id]) => id.startsWith('RotationRestartFunction'));
    expect(policies).toHaveLength(1);
    const statements = (policies[0]?.[1].Properties?.PolicyDocument as { Statement: Array<{ Sid?: string; Action: unknown; Resource: unknown }> }).Statement;
    expect(statements.find((s) => s.Sid === 'StartRestart')).toEqual(expect.objectContaining({ Action: 'states:StartExecution', Resource: { Ref: expect.stringMatching(/^DeployStepStateMachine/) } }));
  });

  test('rotationDays: 0 rotates neither database secret, and a rotation restarts the fleets for the cache token only', () => {
    const off = buildApp({ ...TESTING, environments: [{ ...TESTING.environments[0], database: { rotationDays: 0 } }] }).template('testing');
    const schedules = Object.values(off.findResources('AWS::SecretsManager::RotationSchedule') as Resources);
    expect(schedules.map((s) => s.Properties?.SecretId)).toEqual([{ Ref: expect.stringMatching(/^CacheAuthToken/) }]);
    const rules = Object.entries(off.findResources('AWS::Events::Rule') as Resources).filter(([id]) => id.startsWith('RotationRestart'));
    expect(rules.map(([, r]) => (r.Properties?.EventPattern as { detail: { additionalEventData: { SecretId: unknown[] } } }).detail.additionalEventData.SecretId)).toEqual([[{ Ref: expect.stringMatching(/^CacheAuthToken/) }]]);
  });
});
