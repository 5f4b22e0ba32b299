/**
 * The cache AUTH token's rotation in the template (`lib/cache-token-rotation.ts`, `lib/cache.ts`):
 * the schedule, the function outside the VPC with IAM on this replication group and this secret
 * only, the restart rule naming the token's secret, and `cache.rotationDays: 0`.
 */
import { Match, type Template } from 'aws-cdk-lib/assertions';
import type { HerdSettings } from '../../lib/config/types';
import { buildApp } from '../support/app';

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown>; DependsOn?: string[] }>;
type Statement = { Sid?: string; Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

const TESTING: HerdSettings = {
  app: 'mootube',
  environments: [{ name: 'testing', profile: 'small', account: '123456789012', region: 'eu-west-1' }],
};

const ids = (template: Template, type: string, props: Record<string, unknown> = {}) => Object.keys(template.findResources(type, { Properties: props }));
const tokenSecret = (template: Template) => {
  const [id, ...others] = ids(template, 'AWS::SecretsManager::Secret', { Description: 'AUTH token of the herd cache' });
  if (!id || others.length > 0) throw new Error('not one token secret');
  return id;
};
const groupId = (template: Template) => ids(template, 'AWS::ElastiCache::ReplicationGroup')[0]!;

describe('the cache token rotation', () => {
  let template: Template;
  beforeAll(() => {
    template = buildApp(TESTING).template('testing');
  });
  const rotationFunction = () => {
    const [id, ...others] = ids(template, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('rotates the cache AUTH token') });
    if (!id || others.length > 0) throw new Error('not one rotation function');
    return { id, resource: (template.findResources('AWS::Lambda::Function') as Resources)[id]! };
  };
  const statements = (fnId: string): Statement[] => {
    const role = (rotationFunction().resource.Properties?.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    expect(fnId).toBeDefined();
    return Object.values(template.findResources('AWS::IAM::Policy') as Resources)
      .filter((p) => (p.Properties?.Roles as { Ref: string }[]).some((r) => r.Ref === role))
      .flatMap((p) => (p.Properties?.PolicyDocument as { Statement: Statement[] }).Statement);
  };

  test('rotates every 30 days with herd\'s function, not when the schedule is created or changed, after the group exists', () => {
    const schedules = Object.values(template.findResources('AWS::SecretsManager::RotationSchedule', { Properties: { SecretId: { Ref: tokenSecret(template) } } }) as Resources);
    expect(schedules).toHaveLength(1);
    expect(schedules[0]!.Properties).toEqual({
      SecretId: { Ref: tokenSecret(template) },
      RotationLambdaARN: { 'Fn::GetAtt': [rotationFunction().id, 'Arn'] },
      RotationRules: { ScheduleExpression: 'rate(30 days)' },
      RotateImmediatelyOnUpdate: false,
    });
    expect(schedules[0]!.DependsOn).toEqual(expect.arrayContaining([groupId(template)]));
  });

  test('the function runs outside the VPC, knows the secret and the group, and may wait 15 minutes for a busy group', () => {
    const { resource } = rotationFunction();
    expect(resource.Properties?.VpcConfig).toBeUndefined();
    expect(resource.Properties?.Timeout).toBe(900);
    expect(resource.Properties?.Environment).toEqual({ Variables: { SECRET_ARN: { Ref: tokenSecret(template) }, REPLICATION_GROUP_ID: { Ref: groupId(template) } } });
    // Only this account's Secrets Manager invokes it.
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission', { Properties: { FunctionName: { 'Fn::GetAtt': [rotationFunction().id, 'Arn'] } } }) as Resources);
    expect(permissions.map((p) => [p.Properties?.Principal, p.Properties?.SourceAccount])).toEqual([['secretsmanager.amazonaws.com', '123456789012']]);
  });

  test('its IAM: ElastiCache on this replication group only, the rotation\'s Secrets Manager actions on this secret only, GetRandomPassword (no resource type) on *', () => {
    const all = statements(rotationFunction().id);
    const byActions = Object.fromEntries(all.map((s) => [[s.Action].flat().sort().join(' '), s]));
    expect(Object.keys(byActions).sort()).toEqual([
      'elasticache:DescribeReplicationGroups elasticache:ModifyReplicationGroup',
      'secretsmanager:DescribeSecret secretsmanager:GetSecretValue secretsmanager:PutSecretValue secretsmanager:UpdateSecretVersionStage',
      'secretsmanager:GetRandomPassword',
    ]);
    expect(all.every((s) => s.Effect === 'Allow')).toBe(true);
    expect(byActions['elasticache:DescribeReplicationGroups elasticache:ModifyReplicationGroup']!.Resource).toEqual({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':elasticache:eu-west-1:123456789012:replicationgroup:', { Ref: groupId(template) }]],
    });
    expect(byActions['secretsmanager:DescribeSecret secretsmanager:GetSecretValue secretsmanager:PutSecretValue secretsmanager:UpdateSecretVersionStage']!.Resource).toEqual({ Ref: tokenSecret(template) });
    expect(byActions['secretsmanager:GetRandomPassword']!.Resource).toBe('*');
  });

  test('a successful rotation of the token restarts web and worker: the restart rule names the token\'s secret', () => {
    const rules = Object.entries(template.findResources('AWS::Events::Rule') as Resources).filter(([id]) => id.startsWith('RotationRestart'));
    expect(rules).toHaveLength(1);
    const secrets = (rules[0]![1].Properties?.EventPattern as { detail: { additionalEventData: { SecretId: unknown[] } } }).detail.additionalEventData.SecretId;
    expect(secrets).toContainEqual({ Ref: tokenSecret(template) });
    const restart = ids(template, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('restarts web and worker') });
    const variables = ((template.findResources('AWS::Lambda::Function') as Resources)[restart[0]!]!.Properties?.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(JSON.stringify(variables.SECRET_ARNS)).toContain(tokenSecret(template));
  });

  test('the group still reads the token as the secret\'s current version (a versionless dynamic reference)', () => {
    const group = (template.findResources('AWS::ElastiCache::ReplicationGroup') as Resources)[groupId(template)]!;
    expect(group.Properties?.AuthToken).toEqual({ 'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: tokenSecret(template) }, ':SecretString:::}}']] });
  });

  test('cache.rotationDays: 0 rotates no token and, with database.rotationDays: 0 too, restarts nothing', () => {
    const settings = (cache: number, database: number): HerdSettings => ({ ...TESTING, environments: [{ ...TESTING.environments[0]!, cache: { rotationDays: cache }, database: { rotationDays: database } }] });
    const cacheOff = buildApp(settings(0, 30)).template('testing');
    expect(ids(cacheOff, 'AWS::SecretsManager::RotationSchedule', { SecretId: { Ref: tokenSecret(cacheOff) } })).toEqual([]);
    expect(ids(cacheOff, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('rotates the cache AUTH token') })).toEqual([]);
    const rule = Object.entries(cacheOff.findResources('AWS::Events::Rule') as Resources).find(([id]) => id.startsWith('RotationRestart'))!;
    expect(JSON.stringify(rule[1].Properties?.EventPattern)).not.toContain(tokenSecret(cacheOff));
    const bothOff = buildApp(settings(0, 0)).template('testing');
    bothOff.resourceCountIs('AWS::SecretsManager::RotationSchedule', 0);
    expect(Object.keys(bothOff.findResources('AWS::Events::Rule')).filter((id) => id.startsWith('RotationRestart'))).toEqual([]);
  });
});
