/**
 * The AWS clients the deploy step uses, as `{ send }` objects: real SDK v3 clients in the
 * Lambda, the simulation's fake cloud in tests and in `herd plan`.
 */
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface DeployClients {
  readonly ec2: Pick<EC2Client, 'send'>;
  readonly autoScaling: Pick<AutoScalingClient, 'send'>;
  readonly elbv2: Pick<ElasticLoadBalancingV2Client, 'send'>;
  readonly ssm: Pick<SSMClient, 'send'>;
  readonly dynamodb: Pick<DynamoDBDocumentClient, 'send'>;
  readonly rds: Pick<RDSClient, 'send'>;
  /** The environment's own stack: a deploy does not start while CloudFormation updates it. */
  readonly cloudFormation: Pick<CloudFormationClient, 'send'>;
  /** The rollback alarms: the pre-flight and the alarm watch of a deploy read their state. */
  readonly cloudWatch: Pick<CloudWatchClient, 'send'>;
  /** The artifacts bucket: the pre-flight checks a release's artifact is there before baking it. */
  readonly s3: Pick<S3Client, 'send'>;
  /** The environment's notifications topic: a deploy's start and outcome, for people (`notify.ts`). */
  readonly sns: Pick<SNSClient, 'send'>;
  /** The account's default event bus: the same, as events rules can route (`notify.ts`). */
  readonly eventBridge: Pick<EventBridgeClient, 'send'>;
}

/** Client settings every herd caller uses: throttling is normal, so adaptive retries. */
export interface ClientSettings {
  readonly retryMode: 'adaptive';
  readonly maxAttempts: number;
  readonly region?: string;
}

/** Real SDK clients for the deploy step's calls (the Lambda's, and the CLI's reuse of its helpers). */
export function createDeployClients(settings: ClientSettings): DeployClients {
  return {
    ec2: new EC2Client(settings),
    autoScaling: new AutoScalingClient(settings),
    elbv2: new ElasticLoadBalancingV2Client(settings),
    ssm: new SSMClient(settings),
    dynamodb: DynamoDBDocumentClient.from(new DynamoDBClient(settings), { marshallOptions: { removeUndefinedValues: true } }),
    rds: new RDSClient(settings),
    cloudFormation: new CloudFormationClient(settings),
    cloudWatch: new CloudWatchClient(settings),
    s3: new S3Client(settings),
    sns: new SNSClient(settings),
    eventBridge: new EventBridgeClient(settings),
  };
}

/** Wall clock of the deploy step (virtual in the simulation). */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
