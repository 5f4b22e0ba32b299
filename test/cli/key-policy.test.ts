/**
 * `keyPolicyAccess`: what a KMS key policy lets a principal do, as doctor reads it for Auto
 * Scaling's service-linked role and the account's IAM policies.
 */
import { AUTO_SCALING_KEY_ACTIONS, DEPLOY_STEP_KEY_ACTIONS, keyPolicyAccess } from '../../lib/cli/doctor/key-policy';

const ACCOUNT = '123456789012';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`;
const ROOT = `arn:aws:iam::${ACCOUNT}:root`;
const policy = (...Statement: object[]) => JSON.stringify({ Version: '2012-10-17', Statement });
const access = (doc: string, principal = ROLE, actions: readonly string[] = AUTO_SCALING_KEY_ACTIONS) => keyPolicyAccess(doc, principal, ACCOUNT, actions);

describe('keyPolicyAccess', () => {
  test('kms:* for the role allows every action; the root statement alone allows the role nothing', () => {
    expect(access(policy({ Effect: 'Allow', Principal: { AWS: [ROLE] }, Action: 'kms:*', Resource: '*' }))).toEqual({ missing: [], denied: [], undecided: 0 });
    expect(access(policy({ Effect: 'Allow', Principal: { AWS: ROOT }, Action: 'kms:*', Resource: '*' })).missing).toEqual([...AUTO_SCALING_KEY_ACTIONS]);
  });

  test('the root statement may name the bare account id; actions match case-insensitively', () => {
    expect(access(policy({ Effect: 'Allow', Principal: { AWS: ACCOUNT }, Action: 'KMS:*', Resource: '*' }), ROOT, DEPLOY_STEP_KEY_ACTIONS)).toEqual({ missing: [], denied: [], undecided: 0 });
  });

  test('a pattern is covered only when each action it stands for is: kms:ReEncryptFrom alone leaves kms:ReEncrypt* missing', () => {
    const doc = policy({ Effect: 'Allow', Principal: { AWS: ROLE }, Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncryptFrom', 'kms:GenerateDataKey*', 'kms:DescribeKey', 'kms:CreateGrant'], Resource: '*' });
    expect(access(doc).missing).toEqual(['kms:ReEncrypt*']);
  });

  test('NotAction allows what it does not name', () => {
    expect(access(policy({ Effect: 'Allow', Principal: { AWS: ROLE }, NotAction: 'kms:CreateGrant', Resource: '*' })).missing).toEqual(['kms:CreateGrant']);
  });

  test('Principal * decided by aws:PrincipalArn and kms:CallerAccount (the notifications key\'s form): this role yes, another no', () => {
    const doc = policy({ Effect: 'Allow', Principal: { AWS: '*' }, Action: 'kms:*', Resource: '*', Condition: { ArnLike: { 'aws:PrincipalArn': `arn:aws:iam::${ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/*` }, StringEquals: { 'kms:CallerAccount': ACCOUNT } } });
    expect(access(doc)).toEqual({ missing: [], denied: [], undecided: 0 });
    expect(access(doc, `arn:aws:iam::${ACCOUNT}:role/other`).missing).toEqual([...AUTO_SCALING_KEY_ACTIONS]);
  });

  test('kms:GrantIsForAWSResource true allows CreateGrant, and nothing else (the key is in no other request); false never allows it', () => {
    const grant = (value: boolean) => policy({ Effect: 'Allow', Principal: { AWS: ROLE }, Action: ['kms:CreateGrant', 'kms:Decrypt'], Resource: '*', Condition: { Bool: { 'kms:GrantIsForAWSResource': value } } });
    expect(access(grant(true), ROLE, ['kms:CreateGrant', 'kms:Decrypt'])).toEqual({ missing: ['kms:Decrypt'], denied: [], undecided: 0 });
    expect(access(grant(false), ROLE, ['kms:CreateGrant'])).toEqual({ missing: ['kms:CreateGrant'], denied: [], undecided: 0 });
  });

  test('an unconditional Deny takes an action away even from kms:*; a single statement (not a list) is read', () => {
    const doc = JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: { AWS: ROLE }, Action: 'kms:*', Resource: '*' }, { Effect: 'Deny', Principal: '*', Action: 'kms:Encrypt', Resource: '*' }] });
    expect(access(doc)).toEqual({ missing: [], denied: ['kms:Encrypt'], undecided: 0 });
    expect(access(JSON.stringify({ Statement: { Effect: 'Allow', Principal: { AWS: ROLE }, Action: 'kms:*', Resource: '*' } })).missing).toEqual([]);
  });

  test('a policy that is not JSON is an error saying so', () => {
    expect(() => access('{not json')).toThrow('the key policy is not JSON');
  });
});
