import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { AccessLogs } from './access-logs';
import { acknowledgeGuard } from './nag';

export interface ArtifactsProps {
  readonly accessLogs: AccessLogs;
}

/**
 * Release artifacts (`releases/<release-id>.tar.gz`) uploaded by `herd deploy` and read by
 * the bake builder: encrypted, versioned, TLS only, never public, kept when the stack is
 * deleted.
 */
export class Artifacts extends Construct {
  public readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: ArtifactsProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      versioned: true,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      ...props.accessLogs.logsOf('artifacts'),
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(30), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledgeGuard(this.bucket, 's3_bucket_default_encryption_kms_check', 'Encrypted with S3-managed keys (SSE-S3); access is by bucket policy and IAM within this account, and a customer managed key would add kms:Decrypt grants to the builders and uploaders for no threat that SSE-S3 leaves open here.');
    acknowledgeGuard(this.bucket, 's3_event_notifications_enabled_check', 'Nothing reacts to an upload: `herd deploy` starts the deploy step itself after uploading.');
    acknowledgeGuard(this.bucket, 's3_bucket_object_lock_enabled_check', 'Artifacts are inputs to a bake, not records: versioning keeps an overwritten or deleted artifact for 30 days, and write-once retention would keep a bad upload with no way to remove it.');
  }
}
