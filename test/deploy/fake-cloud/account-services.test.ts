/**
 * The fake's IAM GetRole, KMS GetKeyPolicy and Service Quotas reject what AWS rejects (API
 * references: GetRole, GetKeyPolicy, GetServiceQuota, GetAWSDefaultServiceQuota), and their
 * answers reach the SDK as AWS's do (IAM's query protocol, KMS's and Service Quotas' JSON 1.1).
 */
import { GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { GetKeyPolicyCommand, KMSClient } from '@aws-sdk/client-kms';
import { GetAWSDefaultServiceQuotaCommand, GetServiceQuotaCommand, ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { addKey, defaultKeyPolicy } from '../../../lib/simulation/services/kms';
import { fakeClient } from '../../../lib/simulation/transport';
import { createWorld } from '../../../lib/simulation/world';

function world() {
  const w = createWorld({ web: 1, worker: 1, serving: 'r1' });
  return { cloud: w.cloud, iam: fakeClient(IAMClient, w.cloud, 'iam'), kms: fakeClient(KMSClient, w.cloud, 'kms'), quotas: fakeClient(ServiceQuotasClient, w.cloud, 'serviceQuotas') };
}

describe('fake IAM GetRole', () => {
  test('answers Auto Scaling\'s service-linked role with its path; an unknown role is NoSuchEntity (404), a malformed name a validation error', async () => {
    const { cloud, iam } = world();
    const role = (await iam.send(new GetRoleCommand({ RoleName: 'AWSServiceRoleForAutoScaling' }))).Role!;
    expect({ arn: role.Arn, path: role.Path, trust: JSON.parse(decodeURIComponent(role.AssumeRolePolicyDocument!)).Statement[0].Principal }).toEqual({
      arn: 'arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling',
      path: '/aws-service-role/autoscaling.amazonaws.com/',
      trust: { Service: 'autoscaling.amazonaws.com' },
    });
    cloud.roles.delete('AWSServiceRoleForAutoScaling');
    await expect(iam.send(new GetRoleCommand({ RoleName: 'AWSServiceRoleForAutoScaling' }))).rejects.toMatchObject({ name: 'NoSuchEntityException', $metadata: { httpStatusCode: 404 } });
    await expect(iam.send(new GetRoleCommand({ RoleName: 'no spaces allowed' }))).rejects.toMatchObject({ name: 'ValidationError' });
  });
});

describe('fake KMS GetKeyPolicy', () => {
  test('answers by key id or key ARN; refuses an alias, another account\'s key, an unknown key, another policy name', async () => {
    const { cloud, kms } = world();
    const key = addKey(cloud, '1234abcd-12ab-34cd-56ef-1234567890ab');
    for (const KeyId of [key.id, key.arn]) expect(await kms.send(new GetKeyPolicyCommand({ KeyId }))).toMatchObject({ Policy: defaultKeyPolicy(), PolicyName: 'default' });
    await expect(kms.send(new GetKeyPolicyCommand({ KeyId: 'alias/landing-zone' }))).rejects.toMatchObject({ name: 'NotFoundException' });
    await expect(kms.send(new GetKeyPolicyCommand({ KeyId: key.arn.replace('123456789012', '210987654321') }))).rejects.toMatchObject({ name: 'AccessDeniedException' });
    await expect(kms.send(new GetKeyPolicyCommand({ KeyId: '00000000-0000-0000-0000-000000000000' }))).rejects.toMatchObject({ name: 'NotFoundException' });
    await expect(kms.send(new GetKeyPolicyCommand({ KeyId: 'arn:aws:kms:eu-west-1:123456789012:keys/x' }))).rejects.toMatchObject({ name: 'InvalidArnException' });
    await expect(kms.send(new GetKeyPolicyCommand({ KeyId: key.id, PolicyName: 'other' }))).rejects.toMatchObject({ name: 'NotFoundException' });
    await expect(kms.send(new GetKeyPolicyCommand({ KeyId: key.id, PolicyName: 'not-a-word' }))).rejects.toMatchObject({ name: 'ValidationException' });
  });
});

describe('fake Service Quotas', () => {
  test('answers the applied NAT gateway quota and its default; without an applied value, only the default; unknown or malformed codes fail', async () => {
    const { cloud, quotas } = world();
    const code = { ServiceCode: 'vpc', QuotaCode: 'L-FE5A380F' };
    cloud.serviceQuotas.get('vpc/L-FE5A380F')!.applied = 20;
    expect((await quotas.send(new GetServiceQuotaCommand(code))).Quota).toMatchObject({ Value: 20, QuotaName: 'NAT gateways per Availability Zone' });
    expect((await quotas.send(new GetAWSDefaultServiceQuotaCommand(code))).Quota?.Value).toBe(5);
    delete cloud.serviceQuotas.get('vpc/L-FE5A380F')!.applied;
    await expect(quotas.send(new GetServiceQuotaCommand(code))).rejects.toMatchObject({ name: 'NoSuchResourceException' });
    await expect(quotas.send(new GetServiceQuotaCommand({ ServiceCode: 'vpc', QuotaCode: 'L-00000000' }))).rejects.toMatchObject({ name: 'NoSuchResourceException' });
    await expect(quotas.send(new GetServiceQuotaCommand({ ServiceCode: '1vpc', QuotaCode: 'L-FE5A380F' }))).rejects.toMatchObject({ name: 'IllegalArgumentException' });
  });
});
