/**
 * The AWS clients the deploy step uses: real SDK v3 clients, sending to AWS in the Lambda
 * and to the simulation's fake cloud in tests and in `herd plan`.
 */
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
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
  /** The instances' boot logs: an unhealthy release's diagnosis quotes their tail (`diagnose.ts`). */
  readonly logs: Pick<CloudWatchLogsClient, 'send'>;
  /** The artifacts bucket: the pre-flight checks a release's artifact is there before baking it. */
  readonly s3: Pick<S3Client, 'send'>;
  /** The environment's notifications topic: a deploy's start and outcome, for people (`notify.ts`). */
  readonly sns: Pick<SNSClient, 'send'>;
  /** The account's default event bus: the same, as events rules can route (`notify.ts`). */
  readonly eventBridge: Pick<EventBridgeClient, 'send'>;
  /** The role keeper, invoked after a migration (`keeper.ts`). */
  readonly lambda: Pick<LambdaClient, 'send'>;
}

/** Client settings every herd caller uses: throttling is normal, so adaptive retries. */
export interface ClientSettings {
  readonly retryMode: 'adaptive';
  readonly maxAttempts: number;
  readonly region?: string;
}

/**
 * Real SDK clients for the deploy step's calls (the Lambda's, and the CLI's reuse of its
 * helpers). `transport` adds configuration per client: the fake cloud's tests give each
 * client a request handler answered by the fake (`lib/simulation/transport.ts`), so they
 * run these very clients.
 */
export function createDeployClients(settings: ClientSettings, transport?: (service: keyof DeployClients) => object): DeployClients {
  const config = (service: keyof DeployClients) => ({ ...settings, ...transport?.(service) });
  return {
    ec2: new EC2Client(config('ec2')),
    autoScaling: new AutoScalingClient(config('autoScaling')),
    elbv2: new ElasticLoadBalancingV2Client(config('elbv2')),
    ssm: new SSMClient(config('ssm')),
    dynamodb: DynamoDBDocumentClient.from(new DynamoDBClient(config('dynamodb')), { marshallOptions: { removeUndefinedValues: true } }),
    rds: new RDSClient(config('rds')),
    cloudFormation: new CloudFormationClient(config('cloudFormation')),
    cloudWatch: new CloudWatchClient(config('cloudWatch')),
    logs: new CloudWatchLogsClient(config('logs')),
    s3: new S3Client(config('s3')),
    sns: new SNSClient(config('sns')),
    eventBridge: new EventBridgeClient(config('eventBridge')),
    lambda: new LambdaClient(config('lambda')),
  };
}

/** Wall clock of the deploy step (virtual in the simulation). */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
