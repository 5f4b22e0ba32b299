/**
 * EC2's account-level settings in the fake cloud, as `herd doctor` reads them: EBS
 * encryption by default and its KMS key (`GetEbsEncryptionByDefault`,
 * `GetEbsDefaultKmsKeyId`: `alias/aws/ebs` until a customer key is set), the Elastic IP
 * quota (`DescribeAccountAttributes` attribute `vpc-max-elastic-ips`, default 5), the
 * addresses allocated (`DescribeAddresses`), the NAT gateways (`DescribeNatGateways`:
 * `MaxResults` 5 to 1,000, pages with a `NextToken`, the `state` filter) and the zones of
 * their subnets (`DescribeSubnets` by id: an unknown id is `InvalidSubnetID.NotFound`).
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
  readonly natGateways: { readonly id: string; readonly subnetId: string; state: 'pending' | 'available' | 'deleting' | 'deleted' | 'failed' }[];
  /** Availability Zone of each subnet, by subnet id. */
  readonly subnetZones: Map<string, string>;
}

export function defaultEc2Account(): Ec2Account {
  return { ebsEncryptionByDefault: false, ebsDefaultKmsKeyId: 'alias/aws/ebs', maxElasticIps: 5, addresses: [], natGateways: [], subnetZones: new Map() };
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
  cloud.on('ec2', ec2.DescribeNatGatewaysCommand, (input) => {
    const max = input.MaxResults;
    if (max !== undefined && (!Number.isInteger(max) || max < 5 || max > 1000)) {
      fail('InvalidParameterValue', `Value ( ${max} ) for parameter maxResults is invalid. Parameter must be between 5 and 1000.`);
    }
    if (input.NatGatewayIds?.length) throw new Error('the fake cloud does not model DescribeNatGateways by id');
    for (const f of input.Filter ?? []) if (f.Name !== 'state') throw new Error(`the fake cloud does not model the DescribeNatGateways filter ${f.Name}`);
    const states = input.Filter?.find((f) => f.Name === 'state')?.Values;
    const all = account.natGateways.filter((n) => !states || states.includes(n.state));
    const start = input.NextToken ? Number(input.NextToken) : 0;
    const page = all.slice(start, start + (max ?? 1000));
    const next = start + page.length;
    return {
      NatGateways: page.map((n) => ({ NatGatewayId: n.id, SubnetId: n.subnetId, State: n.state as ec2.NatGatewayState, ConnectivityType: 'public' as const })),
      ...(next < all.length ? { NextToken: String(next) } : {}),
    };
  });
  cloud.on('ec2', ec2.DescribeSubnetsCommand, (input) => {
    if (input.Filters?.length) throw new Error('the fake cloud does not model DescribeSubnets filters');
    const ids = input.SubnetIds ?? [...account.subnetZones.keys()];
    for (const id of ids) if (!account.subnetZones.has(id)) fail('InvalidSubnetID.NotFound', `The subnet ID '${id}' does not exist`);
    return { Subnets: ids.map((id) => ({ SubnetId: id, AvailabilityZone: account.subnetZones.get(id) })) };
  });
}
