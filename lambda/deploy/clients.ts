/**
 * The AWS clients the deploy step uses, as `{ send }` objects: real SDK v3 clients in the
 * Lambda, the simulation's fake cloud in tests and in `herd plan`.
 */
import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { RDSClient } from '@aws-sdk/client-rds';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface DeployClients {
  readonly ec2: Pick<EC2Client, 'send'>;
  readonly autoScaling: Pick<AutoScalingClient, 'send'>;
  readonly elbv2: Pick<ElasticLoadBalancingV2Client, 'send'>;
  readonly ssm: Pick<SSMClient, 'send'>;
  readonly dynamodb: Pick<DynamoDBDocumentClient, 'send'>;
  readonly rds: Pick<RDSClient, 'send'>;
}

/** Wall clock of the deploy step (virtual in the simulation). */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
