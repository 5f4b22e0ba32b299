import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { restartAfterRotation, type RotationRestartOutcome, type RotationRestartSettings } from './restart';

const settings = { retryMode: 'adaptive', maxAttempts: 8 } as const;
const clients = {
  ssm: new SSMClient(settings),
  sfn: new SFNClient(settings),
  sns: new SNSClient(settings),
  dynamodb: DynamoDBDocumentClient.from(new DynamoDBClient(settings)),
};

function settingsOf(env: NodeJS.ProcessEnv): RotationRestartSettings {
  const read = (name: string) => {
    const value = env[name];
    if (!value) throw new Error(`rotation restart: environment variable ${name} is not set`);
    return value;
  };
  return {
    env: read('HERD_ENV'),
    stateMachineArn: read('STATE_MACHINE_ARN'),
    tableName: read('TABLE_NAME'),
    topicArn: read('TOPIC_ARN'),
    currentReleaseParameter: read('CURRENT_RELEASE_PARAMETER'),
    secretArns: read('SECRET_ARNS').split(','),
  };
}

/** Target of the `RotationSucceeded` rule. */
export async function handler(event: unknown): Promise<RotationRestartOutcome> {
  const outcome = await restartAfterRotation(event, settingsOf(process.env), clients, Date.now());
  console.log(JSON.stringify({ message: 'rotation restart', ...outcome }));
  return outcome;
}
