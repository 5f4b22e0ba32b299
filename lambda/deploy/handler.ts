/**
 * The advance Lambda. Step Functions calls it with the execution input first (it answers
 * with the first state), then with each state it returned, until `done`.
 * Clients live at module scope with adaptive retries; the environment comes from the
 * `DEPLOY_ENVIRONMENT` variable, validated once.
 */
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { RDSClient } from '@aws-sdk/client-rds';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { advance, startDeploy } from './advance';
import { systemClock, type DeployClients } from './clients';
import { parseDeployEnvironment, type DeployEnvironment } from './environment';
import { isDeployState, parseDeployInput, type DeployState } from './state';
import type { AdvanceContext } from './step';

const config = { retryMode: 'adaptive', maxAttempts: 6 } as const;

const clients: DeployClients = {
  ec2: new EC2Client(config),
  autoScaling: new AutoScalingClient(config),
  elbv2: new ElasticLoadBalancingV2Client(config),
  ssm: new SSMClient(config),
  dynamodb: DynamoDBDocumentClient.from(new DynamoDBClient(config), { marshallOptions: { removeUndefinedValues: true } }),
  rds: new RDSClient(config),
};

let environment: DeployEnvironment | undefined;

/** Runs one call: a state advances one step, an execution input becomes the first state. */
export async function handle(event: unknown, ctx: AdvanceContext): Promise<DeployState> {
  if (isDeployState(event)) return advance(event, ctx);
  return startDeploy(parseDeployInput(event), ctx.env, ctx.clock);
}

export async function handler(event: unknown): Promise<DeployState> {
  environment ??= parseDeployEnvironment(process.env.DEPLOY_ENVIRONMENT);
  return handle(event, { clients, env: environment, clock: systemClock });
}

/** For tests: forget the parsed environment. */
export function resetEnvironmentForTests(): void {
  environment = undefined;
}
