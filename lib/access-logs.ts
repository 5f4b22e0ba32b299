import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { FactName } from 'aws-cdk-lib/region-info';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from './nag';

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
      lifecycleRules: [{ expiration: Duration.days(props.retentionDays) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(this.bucket, 'AwsSolutions-S1', 'This bucket is the access-log destination itself; logging it to itself would loop.');
  }

  /**
   * Sends `alb`'s access logs here, under `prefix`. Works in an environment-agnostic stack:
   * CDK's own `logAccessLogs` needs a known region, so the bucket policy names both the
   * regional ELB account (looked up in a mapping of every region) and the log-delivery
   * service principal that newer regions use.
   */
  public receiveLoadBalancerLogs(alb: elbv2.ApplicationLoadBalancer, prefix: string): void {
    const stack = Stack.of(this);
    const elbAccount = stack.regionalFact(FactName.ELBV2_ACCOUNT, stack.account);
    this.bucket.addToResourcePolicy(new iam.PolicyStatement({
      actions: ['s3:PutObject'],
      principals: [new iam.ArnPrincipal(`arn:${stack.partition}:iam::${elbAccount}:root`), new iam.ServicePrincipal('logdelivery.elasticloadbalancing.amazonaws.com')],
      resources: [this.bucket.arnForObjects(`${prefix}/AWSLogs/${stack.account}/*`)],
    }));
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

