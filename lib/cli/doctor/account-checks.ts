/**
 * `herd doctor`'s checks of the account and region around the environment: Auto Scaling's
 * service-linked role (IAM GetRole), EBS encryption by default and its key (a customer-managed
 * key's policy must let that role use it: KMS GetKeyPolicy, `key-policy.ts`), Elastic IPs
 * against their quota (EC2's `vpc-max-elastic-ips`, the applied quota), NAT gateways per zone
 * against their quota (Service Quotas: the applied value, else the default), manual DB
 * snapshots against their quota (RDS's own count and applied quota).
 *
 * ELB's and RDS's service-linked roles are not checked: each service creates its own when the
 * stack creates a load balancer or a database, and no herd key policy needs to name them.
 */
import {
  DescribeAccountAttributesCommand,
  DescribeAddressesCommand,
  DescribeNatGatewaysCommand,
  DescribeSubnetsCommand,
  GetEbsDefaultKmsKeyIdCommand,
  GetEbsEncryptionByDefaultCommand,
  type NatGateway,
} from '@aws-sdk/client-ec2';
import { GetRoleCommand } from '@aws-sdk/client-iam';
import { GetKeyPolicyCommand } from '@aws-sdk/client-kms';
import { DescribeAccountAttributesCommand as DescribeRdsAccountAttributesCommand } from '@aws-sdk/client-rds';
import { GetAWSDefaultServiceQuotaCommand, GetServiceQuotaCommand } from '@aws-sdk/client-service-quotas';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import type { AwsClients } from '../deps';
import { failed, ok, warn, type Check, type CheckOutcome } from './check';
import { AUTO_SCALING_KEY_ACTIONS, DEPLOY_STEP_KEY_ACTIONS, keyPolicyAccess } from './key-policy';

export interface AccountCheckContext {
  readonly clients: Pick<AwsClients, 'ec2' | 'rds' | 'iam' | 'kms' | 'serviceQuotas' | 'sts'>;
  readonly env: string;
  /** Whether `herd-<env>` is deployed (its groups exist). */
  readonly deployed: boolean;
}

/** Auto Scaling's default service-linked role. */
export const AUTO_SCALING_ROLE = 'AWSServiceRoleForAutoScaling';
const AUTO_SCALING_ROLE_PATH = '/aws-service-role/autoscaling.amazonaws.com/';
export const CREATE_AUTO_SCALING_ROLE = 'aws iam create-service-linked-role --aws-service-name autoscaling.amazonaws.com';

/** Service Quotas' code of "NAT gateways per Availability Zone" (Amazon VPC quotas). */
export const NAT_GATEWAY_QUOTA = { ServiceCode: 'vpc', QuotaCode: 'L-FE5A380F' } as const;

const errorName = (err: unknown): string => (err instanceof Error ? err.name : 'Error');

/** The AWS managed EBS key, which Auto Scaling may always use. */
const AWS_MANAGED_EBS_KEY = 'alias/aws/ebs';

/** NAT gateways an Availability Zone may hold by default (VPC quotas): when Service Quotas cannot be read. */
export const DEFAULT_NAT_GATEWAYS_PER_ZONE = 5;

/** Share of the manual snapshot quota from which doctor warns. */
export const SNAPSHOT_QUOTA_WARNING = 0.9;

const serviceLinkedRole: Check<AccountCheckContext> = {
  name: 'Auto Scaling service-linked role',
  async run({ clients, env, deployed }) {
    try {
      await clients.iam.send(new GetRoleCommand({ RoleName: AUTO_SCALING_ROLE }));
      return ok(`${AUTO_SCALING_ROLE} exists`);
    } catch (err) {
      // IAM's NoSuchEntity, as the SDK names it.
      if (errorName(err) !== 'NoSuchEntityException') throw err;
    }
    if (deployed) {
      return failed(`${AUTO_SCALING_ROLE} does not exist: herd-${env}'s groups launch and replace instances through it`, CREATE_AUTO_SCALING_ROLE);
    }
    return warn(
      `${AUTO_SCALING_ROLE} does not exist yet: Auto Scaling creates it with herd-${env}'s first group if the identity deploying may iam:CreateServiceLinkedRole; a customer-managed EBS key's policy cannot name it until it exists`,
      CREATE_AUTO_SCALING_ROLE,
    );
  },
};

/** The statement a customer-managed EBS key's policy needs for Auto Scaling's service-linked role (README, "A customer-managed EBS key"). */
export function autoScalingKeyStatements(roleArn: string): string {
  return JSON.stringify([
    { Sid: 'AllowAutoScalingToUseTheKey', Effect: 'Allow', Principal: { AWS: roleArn }, Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey'], Resource: '*' },
    { Sid: 'AllowAutoScalingGrantsForAwsResources', Effect: 'Allow', Principal: { AWS: roleArn }, Action: 'kms:CreateGrant', Resource: '*', Condition: { Bool: { 'kms:GrantIsForAWSResource': true } } },
  ]);
}

/** A customer-managed key's policy, read and checked for Auto Scaling's service-linked role and the account's IAM policies. */
async function checkKeyPolicy(clients: AccountCheckContext['clients'], key: string): Promise<CheckOutcome> {
  const account = (await clients.sts.send(new GetCallerIdentityCommand({}))).Account ?? '';
  const roleArn = `arn:aws:iam::${account}:role${AUTO_SCALING_ROLE_PATH}${AUTO_SCALING_ROLE}`;
  const readIt = `aws kms get-key-policy --key-id ${key} --policy-name default`;
  if (key.startsWith('alias/') || /^arn:[^:]+:kms:[^:]*:[^:]*:alias\//.test(key)) {
    return warn(`on, with key alias ${key}: doctor reads a key policy by the key's id or ARN (GetKeyPolicy takes no alias), so its policy was not checked for ${AUTO_SCALING_ROLE}`, `aws kms describe-key --key-id ${key} gives the key's ARN; aws kms get-key-policy --key-id <key ARN> --policy-name default, and look for ${roleArn}`);
  }
  const keyAccount = /^arn:[^:]+:kms:[^:]*:(\d{12}):key\//.exec(key)?.[1];
  if (keyAccount && account && keyAccount !== account) {
    return warn(
      `on, with key ${key} of account ${keyAccount}: KMS lets no other account read its policy, so doctor cannot tell whether ${AUTO_SCALING_ROLE} (${roleArn}) may use it; without that, every launch fails`,
      `ask account ${keyAccount}'s key administrators to check that the key's policy or a grant (aws kms create-grant --grantee-principal ${roleArn}) gives ${AUTO_SCALING_ROLE} ${AUTO_SCALING_KEY_ACTIONS.join(', ')}`,
    );
  }
  let policy: string;
  try {
    policy = (await clients.kms.send(new GetKeyPolicyCommand({ KeyId: key, PolicyName: 'default' }))).Policy ?? '';
  } catch (err) {
    const name = errorName(err);
    if (name === 'NotFoundException') {
      return failed(`on, with key ${key}, which does not exist: every launch of an encrypted volume fails`, 'set the default EBS key to one that exists (aws ec2 modify-ebs-default-kms-key-id --kms-key-id <key ARN>) or to the AWS managed key (aws ec2 reset-ebs-default-kms-key-id)');
    }
    if (name !== 'AccessDeniedException') throw err;
    return warn(
      `on, with key ${key}, whose policy doctor may not read (AccessDeniedException): doctor cannot tell whether ${AUTO_SCALING_ROLE} may use it; without that, every launch fails`,
      `ask the key's administrators for kms:GetKeyPolicy on ${key} (the key policy must allow it, itself or through its statement for the account's IAM policies), or to check that the policy gives ${roleArn} ${AUTO_SCALING_KEY_ACTIONS.join(', ')} (CreateGrant with kms:GrantIsForAWSResource)`,
    );
  }
  const role = keyPolicyAccess(policy, roleArn, account, AUTO_SCALING_KEY_ACTIONS);
  const fix = `add to the key policy (aws kms put-key-policy --key-id ${key} --policy-name default --policy file://policy.json, with the current policy from ${readIt}) the statements ${autoScalingKeyStatements(roleArn)}`;
  if (role.denied.length > 0) {
    return failed(`on, with key ${key}, whose policy denies ${AUTO_SCALING_ROLE} ${role.denied.join(', ')}: instances go from pending to terminated (Client.InternalError), so every launch fails`, `remove that Deny for ${roleArn} from the key policy (${readIt})`);
  }
  if (role.missing.length > 0) {
    const detail = `on, with key ${key}, whose policy does not let ${AUTO_SCALING_ROLE} ${role.missing.join(', ')}`;
    if (role.undecided > 0) {
      return warn(`${detail} unless one of its ${role.undecided} conditional statement${role.undecided === 1 ? '' : 's'} doctor cannot evaluate does: otherwise every launch fails`, `check those statements (${readIt}); or ${fix}`);
    }
    return failed(`${detail}: instances go from pending to terminated (Client.InternalError), so every launch fails (a grant to the role, which doctor does not read, can stand in for the policy)`, fix);
  }
  const iam = keyPolicyAccess(policy, `arn:aws:iam::${account}:root`, account, DEPLOY_STEP_KEY_ACTIONS);
  if (iam.missing.length > 0 || iam.denied.length > 0) {
    return warn(
      `on, with key ${key}: ${AUTO_SCALING_ROLE} may use it, but the policy does not let the account's IAM policies grant ${[...iam.denied, ...iam.missing].join(', ')}, so the deploy step's role (granted by IAM) cannot launch builders and runners unless the policy names it`,
      `add the key's default statement (Principal arn:aws:iam::${account}:root, Action kms:*) to its policy (${readIt})`,
    );
  }
  return ok(`on, with customer-managed key ${key}, whose policy lets ${AUTO_SCALING_ROLE} and the account's IAM policies use it`);
}

const ebsEncryption: Check<AccountCheckContext> = {
  name: 'EBS default encryption',
  async run({ clients }) {
    const on = (await clients.ec2.send(new GetEbsEncryptionByDefaultCommand({}))).EbsEncryptionByDefault === true;
    if (!on) return ok('off: volumes are encrypted as their launch templates say');
    const key = (await clients.ec2.send(new GetEbsDefaultKmsKeyIdCommand({}))).KmsKeyId ?? AWS_MANAGED_EBS_KEY;
    if (key === AWS_MANAGED_EBS_KEY || /:alias\/aws\/ebs$/.test(key)) return ok(`on, with the AWS managed key ${AWS_MANAGED_EBS_KEY}`);
    return checkKeyPolicy(clients, key);
  },
};

const elasticIps: Check<AccountCheckContext> = {
  name: 'Elastic IPs',
  async run({ clients }) {
    const [attributes, addresses] = await Promise.all([
      // Every attribute: the SDK's AttributeNames type lists only default-vpc and supported-platforms.
      clients.ec2.send(new DescribeAccountAttributesCommand({})),
      clients.ec2.send(new DescribeAddressesCommand({})),
    ]);
    const max = Number(attributes.AccountAttributes?.find((a) => a.AttributeName === 'vpc-max-elastic-ips')?.AttributeValues?.[0]?.AttributeValue ?? NaN);
    const used = addresses.Addresses?.length ?? 0;
    if (!Number.isFinite(max)) return warn('the quota of Elastic IPs is unknown (EC2 did not answer vpc-max-elastic-ips)', 'aws ec2 describe-account-attributes --attribute-names vpc-max-elastic-ips');
    if (used >= max) {
      return warn(`${used} of ${max} in use: a new environment's NAT gateways (one address each) cannot be created in this region`, 'release unused addresses (aws ec2 describe-addresses) or ask for more in Service Quotas (EC2, "EC2-VPC Elastic IPs")');
    }
    return ok(`${used} of ${max} in use`);
  },
};

/**
 * The NAT gateways an Availability Zone may hold: the applied quota from Service Quotas; its
 * default when Service Quotas has no applied value (NoSuchResourceException); the documented
 * default when Service Quotas cannot be read at all (the source says which).
 */
async function natGatewayQuota(clients: AccountCheckContext['clients']): Promise<{ value: number; source: string }> {
  try {
    const value = (await clients.serviceQuotas.send(new GetServiceQuotaCommand(NAT_GATEWAY_QUOTA))).Quota?.Value;
    if (value !== undefined) return { value, source: 'applied quota' };
  } catch (err) {
    if (errorName(err) !== 'NoSuchResourceException') return { value: DEFAULT_NAT_GATEWAYS_PER_ZONE, source: `documented default quota (Service Quotas unavailable: ${errorName(err)})` };
  }
  try {
    const value = (await clients.serviceQuotas.send(new GetAWSDefaultServiceQuotaCommand(NAT_GATEWAY_QUOTA))).Quota?.Value;
    if (value !== undefined) return { value, source: 'default quota (Service Quotas has no applied value)' };
  } catch (err) {
    return { value: DEFAULT_NAT_GATEWAYS_PER_ZONE, source: `documented default quota (Service Quotas unavailable: ${errorName(err)})` };
  }
  return { value: DEFAULT_NAT_GATEWAYS_PER_ZONE, source: 'documented default quota (Service Quotas answered no value)' };
}

const natGateways: Check<AccountCheckContext> = {
  name: 'NAT gateways',
  async run({ clients }) {
    const gateways: NatGateway[] = [];
    let NextToken: string | undefined;
    do {
      const res = await clients.ec2.send(new DescribeNatGatewaysCommand({ Filter: [{ Name: 'state', Values: ['pending', 'available'] }], MaxResults: 1000, ...(NextToken ? { NextToken } : {}) }));
      gateways.push(...(res.NatGateways ?? []));
      NextToken = res.NextToken;
    } while (NextToken);
    if (gateways.length === 0) return ok('none in this region');
    const subnets = [...new Set(gateways.map((g) => g.SubnetId ?? '').filter(Boolean))];
    const res = await clients.ec2.send(new DescribeSubnetsCommand({ SubnetIds: subnets }));
    const zoneOf = new Map((res.Subnets ?? []).map((s) => [s.SubnetId ?? '', s.AvailabilityZone ?? 'unknown zone']));
    const perZone = new Map<string, number>();
    for (const g of gateways) {
      const zone = zoneOf.get(g.SubnetId ?? '') ?? 'unknown zone';
      perZone.set(zone, (perZone.get(zone) ?? 0) + 1);
    }
    const counts = [...perZone.entries()].sort(([a], [b]) => a.localeCompare(b));
    const quota = await natGatewayQuota(clients);
    const full = counts.filter(([, n]) => n >= quota.value);
    const text = counts.map(([zone, n]) => `${zone} ${n}`).join(', ');
    if (full.length > 0) {
      return warn(
        `${text}: ${full.map(([zone]) => zone).join(', ')} at the ${quota.source} of ${quota.value} per zone, so a new environment's NAT gateway there fails`,
        'delete NAT gateways no longer used (aws ec2 describe-nat-gateways), or ask for more in Service Quotas (Amazon VPC, "NAT gateways per Availability Zone", L-FE5A380F)',
      );
    }
    return ok(`${text} (${quota.source}: ${quota.value} per zone)`);
  },
};

const dbSnapshots: Check<AccountCheckContext> = {
  name: 'manual DB snapshots',
  async run({ clients, env }) {
    const res = await clients.rds.send(new DescribeRdsAccountAttributesCommand({}));
    const quota = res.AccountQuotas?.find((q) => q.AccountQuotaName === 'ManualSnapshots');
    if (quota?.Used === undefined || quota.Max === undefined) return warn('RDS did not answer the ManualSnapshots quota', 'aws rds describe-account-attributes');
    const { Used: used, Max: max } = quota;
    const fix = `delete manual snapshots no longer needed (aws rds describe-db-snapshots --snapshot-type manual), or ask for more in Service Quotas (RDS, "Manual DB instance snapshots"); herd's own are pruned as ${env}'s configuration keeps them`;
    if (used >= max) return failed(`${used} of ${max} used: the snapshot a deploy takes before migrating fails (SnapshotQuotaExceeded), so deploys with migrations fail`, fix);
    if (used >= max * SNAPSHOT_QUOTA_WARNING) return warn(`${used} of ${max} used: close to the quota`, fix);
    return ok(`${used} of ${max} used`);
  },
};

/** The account checks, in the order doctor runs them (after the environment's). */
export const ACCOUNT_CHECKS: readonly Check<AccountCheckContext>[] = [serviceLinkedRole, ebsEncryption, elasticIps, natGateways, dbSnapshots];
