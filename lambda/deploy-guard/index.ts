import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { onEvent } from '../custom-resource';
import { applyGuard, parseGuardProperties, type GuardResult } from './guard';

const settings = { retryMode: 'adaptive', maxAttempts: 8 } as const;
const clients = {
  dynamodb: DynamoDBDocumentClient.from(new DynamoDBClient(settings)),
  ssm: new SSMClient(settings),
};

/** onEvent handler of the custom-resource provider framework. */
export async function handler(event: unknown): Promise<GuardResult> {
  const e = onEvent(event);
  return applyGuard(e.RequestType, parseGuardProperties(e.ResourceProperties), clients);
}
