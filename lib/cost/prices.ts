/**
 * The prices herd's monthly estimate uses (`estimate.ts`): AWS on-demand list prices in
 * us-east-1, in USD, written down on `PRICES_AS_OF` from the pricing page each table cites.
 * They are not fetched live; AWS changes them and other regions cost more (eu-west-1 ≈ +5 to
 * 10 %): check the AWS Pricing Calculator before budgeting. A type missing here is shown as
 * "price unknown" rather than guessed.
 */

/** When these prices were written down. */
export const PRICES_AS_OF = '2026-12-02';
/** The region they are for. */
export const PRICE_REGION = 'us-east-1';
/** Hours in a month, as AWS's calculator counts them. */
export const HOURS_PER_MONTH = 730;

/** EC2 Linux on-demand, USD per instance-hour (https://aws.amazon.com/ec2/pricing/on-demand/). */
export const EC2_HOURLY: Readonly<Record<string, number>> = {
  't3.micro': 0.0104,
  't3.small': 0.0208,
  't3.medium': 0.0416,
  't3.large': 0.0832,
  't3.xlarge': 0.1664,
  't4g.micro': 0.0084,
  't4g.small': 0.0168,
  't4g.medium': 0.0336,
  't4g.large': 0.0672,
  't4g.xlarge': 0.1344,
  'm5.large': 0.096,
  'm6i.large': 0.096,
  'm7i.large': 0.1008,
  'm7g.large': 0.0816,
  'c6i.large': 0.085,
  'c7g.large': 0.0725,
};

/** EBS gp3, USD per GiB-month, baseline IOPS and throughput (https://aws.amazon.com/ebs/pricing/). */
export const EBS_GP3_GIB_MONTH = 0.08;

/** RDS for PostgreSQL single-AZ on-demand, USD per instance-hour; Multi-AZ (one standby) is twice (https://aws.amazon.com/rds/postgresql/pricing/). */
export const RDS_POSTGRES_HOURLY: Readonly<Record<string, number>> = {
  'db.t4g.micro': 0.016,
  'db.t4g.small': 0.032,
  'db.t4g.medium': 0.065,
  'db.t4g.large': 0.129,
  'db.t3.micro': 0.018,
  'db.t3.small': 0.036,
  'db.t3.medium': 0.072,
};

/** RDS gp3 storage, USD per GiB-month, single-AZ; Multi-AZ is twice (https://aws.amazon.com/rds/postgresql/pricing/). */
export const RDS_GP3_GIB_MONTH = 0.115;

/** ElastiCache for Valkey, node-based on-demand, USD per node-hour (20 % below Redis OSS) (https://aws.amazon.com/elasticache/pricing/). */
export const VALKEY_NODE_HOURLY: Readonly<Record<string, number>> = {
  'cache.t4g.micro': 0.0128,
  'cache.t4g.small': 0.0256,
  'cache.t4g.medium': 0.052,
  'cache.t3.micro': 0.0136,
  'cache.t3.small': 0.0272,
  'cache.t3.medium': 0.0544,
};

/** NAT gateway: per hour, and per GB it processes (https://aws.amazon.com/vpc/pricing/). */
export const NAT_GATEWAY = { hourly: 0.045, perGb: 0.045 } as const;
/** A public IPv4 address in use (each NAT gateway's Elastic IP, each AZ of an internet-facing load balancer) (https://aws.amazon.com/vpc/pricing/). */
export const PUBLIC_IPV4_HOURLY = 0.005;
/** An interface VPC endpoint: per AZ-hour, and per GB (https://aws.amazon.com/privatelink/pricing/). */
export const INTERFACE_ENDPOINT = { hourlyPerAz: 0.01, perGb: 0.01 } as const;
/** Application Load Balancer: per hour, and per LCU-hour (https://aws.amazon.com/elasticloadbalancing/pricing/). */
export const ALB = { hourly: 0.0225, perLcuHour: 0.008 } as const;
/** A Secrets Manager secret, per month (https://aws.amazon.com/secrets-manager/pricing/). */
export const SECRET_MONTHLY = 0.4;
/** A customer-managed KMS key, per month (https://aws.amazon.com/kms/pricing/). */
export const KMS_KEY_MONTHLY = 1;
/** A standard-resolution CloudWatch metric alarm, per month (https://aws.amazon.com/cloudwatch/pricing/). */
export const ALARM_MONTHLY = 0.1;
/** A CloudWatch dashboard, per month; an account's first 3 are free (https://aws.amazon.com/cloudwatch/pricing/). */
export const DASHBOARD_MONTHLY = 3;
/** CloudWatch Logs: ingestion per GB, storage per GB-month (https://aws.amazon.com/cloudwatch/pricing/). */
export const LOGS = { ingestPerGb: 0.5, storePerGbMonth: 0.03 } as const;
/** Data transfer out to the internet, first 10 TB, per GB (https://aws.amazon.com/ec2/pricing/on-demand/). */
export const TRANSFER_OUT_PER_GB = 0.09;
/**
 * AWS WAF: a web ACL per month, each rule (a rule of its own or an AWS Managed Rules baseline or
 * IP reputation group) per month, and per million requests inspected; up to 1,500 WCU a web
 * ACL adds no request charge (herd's rules use about 930) (https://aws.amazon.com/waf/pricing/).
 */
export const WAF = { webAclMonthly: 5, ruleMonthly: 1, perMillionRequests: 0.6 } as const;
