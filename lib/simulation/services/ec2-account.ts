/**
 * EC2's account-level settings in the fake cloud, as `herd doctor` reads them: EBS
 * encryption by default and its KMS key (`GetEbsEncryptionByDefault`,
 * `GetEbsDefaultKmsKeyId`: `alias/aws/ebs` until a customer key is set), the Elastic IP
 * quota (`DescribeAccountAttributes` attribute `vpc-max-elastic-ips`, default 5) and the
 * addresses allocated (`DescribeAddresses`).
 */
import * as ec2 from '@aws-sdk/client-ec2';
import type { FakeCloud } from '../fake-cloud';
import { fail } from './common';

/** The account's EC2 settings and the network resources counted against quotas. */
export interface Ec2Account {
  ebsEncryptionByDefault: boolean;
  /** `alias/aws/ebs` (the AWS managed key) or a customer managed key's ARN. */
  ebsDefaultKmsKeyId: string;
  maxElasticIps: number;
  readonly addresses: { readonly allocationId: string; readonly publicIp: string }[];
}

export function defaultEc2Account(): Ec2Account {
  return { ebsEncryptionByDefault: false, ebsDefaultKmsKeyId: 'alias/aws/ebs', maxElasticIps: 5, addresses: [] };
}

const ATTRIBUTES = ['supported-platforms', 'default-vpc', 'max-instances', 'vpc-max-security-groups-per-interface', 'max-elastic-ips', 'vpc-max-elastic-ips'];

/** Registers the handlers on `cloud`. */
export function registerEc2Account(cloud: FakeCloud): void {
  const account = cloud.ec2Account;
  cloud.on('ec2', ec2.GetEbsEncryptionByDefaultCommand, () => ({ EbsEncryptionByDefault: account.ebsEncryptionByDefault }));
  cloud.on('ec2', ec2.GetEbsDefaultKmsKeyIdCommand, () => ({ KmsKeyId: account.ebsDefaultKmsKeyId }));
  cloud.on('ec2', ec2.DescribeAccountAttributesCommand, (input) => {
    const names = input.AttributeNames ?? ATTRIBUTES;
    for (const n of names) if (!ATTRIBUTES.includes(n)) fail('InvalidParameterValue', `Value (${n}) for parameter attributeName is invalid. Unknown attribute.`);
    const values: Record<string, string> = { 'supported-platforms': 'VPC', 'default-vpc': 'none', 'max-instances': '20', 'vpc-max-security-groups-per-interface': '5', 'max-elastic-ips': '5', 'vpc-max-elastic-ips': String(account.maxElasticIps) };
    return { AccountAttributes: names.map((n) => ({ AttributeName: n, AttributeValues: [{ AttributeValue: values[n] }] })) };
  });
  cloud.on('ec2', ec2.DescribeAddressesCommand, (input) => {
    if (input.Filters?.length) throw new Error('the fake cloud does not model DescribeAddresses filters');
    return { Addresses: account.addresses.map((a) => ({ AllocationId: a.allocationId, PublicIp: a.publicIp, Domain: 'vpc' as const })) };
  });
}
