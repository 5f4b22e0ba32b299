/**
 * `herd doctor`'s checks of the account and region around the environment: EBS encryption
 * by default and its key, Elastic IPs against their quota, NAT gateways per zone against the
 * default quota, manual DB snapshots against their quota. All through EC2 and RDS, whose
 * clients the CLI has; what needs IAM (the Auto Scaling service-linked role), KMS (a
 * customer key's policy) or Service Quotas (a raised NAT gateway quota) is not read: the CLI
 * carries none of those clients.
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
import { DescribeAccountAttributesCommand as DescribeRdsAccountAttributesCommand } from '@aws-sdk/client-rds';
import type { AwsClients } from '../deps';
import { failed, ok, warn, type Check } from './check';

export interface AccountCheckContext {
  readonly clients: Pick<AwsClients, 'ec2' | 'rds'>;
  readonly env: string;
}

/** The AWS managed EBS key, which Auto Scaling may always use. */
const AWS_MANAGED_EBS_KEY = 'alias/aws/ebs';

/** NAT gateways an Availability Zone may hold by default (VPC quotas; a raised quota is not read). */
export const DEFAULT_NAT_GATEWAYS_PER_ZONE = 5;

/** Share of the manual snapshot quota from which doctor warns. */
export const SNAPSHOT_QUOTA_WARNING = 0.9;

const ebsEncryption: Check<AccountCheckContext> = {
  name: 'EBS default encryption',
  async run({ clients }) {
    const on = (await clients.ec2.send(new GetEbsEncryptionByDefaultCommand({}))).EbsEncryptionByDefault === true;
    if (!on) return ok('off: volumes are encrypted as their launch templates say');
    const key = (await clients.ec2.send(new GetEbsDefaultKmsKeyIdCommand({}))).KmsKeyId ?? AWS_MANAGED_EBS_KEY;
    if (key === AWS_MANAGED_EBS_KEY || /:alias\/aws\/ebs$/.test(key)) return ok(`on, with the AWS managed key ${AWS_MANAGED_EBS_KEY}`);
    return warn(
      `on, with key ${key}: if it is a customer managed key, its policy must let the role AWSServiceRoleForAutoScaling use it, or every launch fails (doctor does not read key policies)`,
      `aws kms get-key-policy --key-id ${key} --policy-name default, and look for arn:aws:iam::<account>:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`,
    );
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
    const full = counts.filter(([, n]) => n >= DEFAULT_NAT_GATEWAYS_PER_ZONE);
    const text = counts.map(([zone, n]) => `${zone} ${n}`).join(', ');
    if (full.length > 0) {
      return warn(
        `${text}: ${full.map(([zone]) => zone).join(', ')} at the default quota of ${DEFAULT_NAT_GATEWAYS_PER_ZONE} per zone, so a new environment's NAT gateway there fails unless the quota was raised (doctor does not read Service Quotas)`,
        'delete NAT gateways no longer used (aws ec2 describe-nat-gateways), or check and raise the quota in Service Quotas (Amazon VPC, "NAT gateways per Availability Zone")',
      );
    }
    return ok(text);
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
export const ACCOUNT_CHECKS: readonly Check<AccountCheckContext>[] = [ebsEncryption, elasticIps, natGateways, dbSnapshots];
