import { Aws, CfnCondition, Duration, Fn, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { RegionInfo } from 'aws-cdk-lib/region-info';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge, acknowledgeGuard } from './nag';

/** The service principal that delivers ALB access logs in regions opened since August 2022. */
export const ELB_LOG_DELIVERY_PRINCIPAL = 'logdelivery.elasticloadbalancing.amazonaws.com';

/** Regions of the stack's partition that deliver ALB logs as a regional ELB account, with that account (aws-cdk-lib's region table). */
function elbAccountRegions(partition: string): [string, string][] {
  return RegionInfo.regions
    .filter((r) => r.partition === partition && r.elbv2Account !== undefined)
    .map((r): [string, string] => [r.name, r.elbv2Account as string])
    .sort(([a], [b]) => a.localeCompare(b));
}

/** A policy statement that exists only where `condition` holds (`Fn::If` around the statement). */
class ConditionalStatement extends iam.PolicyStatement {
  constructor(private readonly condition: CfnCondition, props: iam.PolicyStatementProps) {
    // A Sid keeps policy minimization from merging it with another statement (and losing the condition).
    super(props);
  }

  public override toStatementJson(): unknown {
    return Fn.conditionIf(this.condition.logicalId, super.toStatementJson(), Aws.NO_VALUE);
  }
}

/** One condition that is true in any of `conditions` (`Fn::Or` takes 2 to 10 operands: nested by tens). */
function anyOf(scope: Stack, id: string, conditions: CfnCondition[]): CfnCondition {
  const groups: CfnCondition[] = [];
  for (let i = 0; i < conditions.length; i += 10) {
    const group = conditions.slice(i, i + 10);
    groups.push(group.length === 1 ? group[0]! : new CfnCondition(scope, `${id}${groups.length + 1}`, { expression: Fn.conditionOr(...group) }));
  }
  return groups.length === 1 ? groups[0]! : new CfnCondition(scope, id, { expression: Fn.conditionOr(...groups) });
}

/**
 * Statements letting ELB write access logs under `resource` (see
 * `AccessLogs.receiveLoadBalancerLogs`). Flat `Fn::If`s, one per region: nothing nests deeper
 * than two levels, and no table lookup can fail in a region missing from the table.
 */
function loadBalancerLogStatements(stack: Stack, resource: string): iam.PolicyStatement[] {
  const props = { actions: ['s3:PutObject'], resources: [resource] };
  const service = new iam.ServicePrincipal(ELB_LOG_DELIVERY_PRINCIPAL);
  if (!Token.isUnresolved(stack.region)) {
    const account = RegionInfo.get(stack.region).elbv2Account;
    return [new iam.PolicyStatement({ ...props, sid: 'AlbLogDelivery', principals: [account ? new iam.AccountPrincipal(account) : service] })];
  }
  const regions = elbAccountRegions('aws').map(([region, account]) => ({
    account,
    condition: new CfnCondition(stack, `ElbLogAccountIn${region.replace(/[^a-z0-9]/g, '')}`, { expression: Fn.conditionEquals(Aws.REGION, region) }),
  }));
  const anyRegion = anyOf(stack, 'ElbLogAccountRegion', regions.map((r) => r.condition));
  // CDK's CloudFormation validator gives up on the combinations of these conditions; cfn-lint checks the template in full.
  Validations.of(stack).acknowledge({
    id: 'CloudFormation-Validate::W9052',
    reason: 'An environment-agnostic stack picks the ELB log-delivery account of its region with one condition per region; the validator\'s budget does not cover their combinations. cfn-lint validates every template in herd\'s tests.',
  });
  return [
    new iam.PolicyStatement({ ...props, sid: 'AlbLogDelivery', principals: [service] }),
    new ConditionalStatement(anyRegion, {
      ...props,
      sid: 'AlbLogDeliveryRegionalAccount',
      principals: regions.map((r) => new iam.ArnPrincipal(Fn.conditionIf(r.condition.logicalId, `arn:${Aws.PARTITION}:iam::${r.account}:root`, Aws.NO_VALUE).toString())),
    }),
  ];
}

export interface AccessLogsProps {
  /** Days logs are kept. */
  readonly retentionDays: number;
}

/**
 * The bucket that receives the load balancer's access logs and the server access logs
 * of the environment's other buckets. Encrypted with S3-managed keys: ALB log delivery
 * supports no other encryption.
 */
export class AccessLogs extends Construct {
  public readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: AccessLogsProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      // Versioned, so a log deleted or overwritten by mistake (or on purpose) can be recovered
      // while it is kept. Expiring a log in a versioned bucket only makes it noncurrent: the
      // noncurrent version goes a day later, and the delete marker left alone after it, or
      // versioning would keep every log forever. No S3 Object Lock: S3 delivers no server
      // access logs to a bucket with Object Lock (S3 user guide, "Enabling Amazon S3 server
      // access logging"), and this bucket receives the other buckets' (`logsOf`).
      versioned: true,
      lifecycleRules: [
        { id: 'ExpireLogs', expiration: Duration.days(props.retentionDays), noncurrentVersionExpiration: Duration.days(1), abortIncompleteMultipartUploadAfter: Duration.days(1) },
        { id: 'RemoveExpiredDeleteMarkers', expiredObjectDeleteMarker: true },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(this.bucket, 'AwsSolutions-S1', 'This bucket is the access-log destination itself; logging it to itself would loop.');
    acknowledgeGuard(this.bucket, 's3_bucket_object_lock_enabled_check', 'S3 server access logging refuses a destination bucket with an Object Lock default retention, and this bucket receives the artifacts bucket\'s server access logs; it is versioned instead (noncurrent versions expire with the logs), with public access blocked and TLS required.');
    acknowledgeGuard(this.bucket, 's3_bucket_logging_enabled_check', 'This bucket is the access-log destination itself; logging it to itself would loop.');
    // ELB user guide, "Enable access logs for your Application Load Balancer": the bucket's
    // only supported server-side encryption is SSE-S3.
    acknowledgeGuard(this.bucket, 's3_bucket_default_encryption_kms_check', 'Application Load Balancer access-log delivery supports only S3-managed keys (SSE-S3) on the destination bucket.');
    acknowledgeGuard(this.bucket, 's3_event_notifications_enabled_check', 'Nothing reacts to a log file\'s arrival: logs are read on demand, and a notification would have no consumer.');
  }

  /**
   * Sends `alb`'s access logs here, under `prefix`. Regions opened before August 2022
   * deliver ALB logs as a regional Elastic Load Balancing account, later ones as the
   * log-delivery service principal (ELB user guide, "Enable access logs"):
   * - pinned to a region, the bucket policy names the one that region uses;
   * - environment-agnostic, it names the service principal, plus, in a statement that
   *   exists only in regions with such an account, that region's account, chosen by
   *   conditions on `AWS::Region` (no table lookup that a region missing from the table
   *   could fail).
   */
  public receiveLoadBalancerLogs(alb: elbv2.ApplicationLoadBalancer, prefix: string): void {
    const stack = Stack.of(this);
    for (const statement of loadBalancerLogStatements(stack, this.bucket.arnForObjects(`${prefix}/AWSLogs/${stack.account}/*`))) {
      this.bucket.addToResourcePolicy(statement);
    }
    alb.setAttribute('access_logs.s3.enabled', 'true');
    alb.setAttribute('access_logs.s3.bucket', this.bucket.bucketName);
    alb.setAttribute('access_logs.s3.prefix', prefix);
    const policy = this.bucket.policy?.node.defaultChild;
    if (policy) alb.node.addDependency(policy);
  }

  /** Sends `bucket`'s server access logs here, under a prefix named after it. */
  public logsOf(prefix: string): { serverAccessLogsBucket: s3.IBucket; serverAccessLogsPrefix: string } {
    return { serverAccessLogsBucket: this.bucket, serverAccessLogsPrefix: `s3/${prefix}/` };
  }
}

