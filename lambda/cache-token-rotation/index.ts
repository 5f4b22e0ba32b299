import { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { rotateCacheToken, type CacheTokenRotationSettings, type StepOutcome } from './rotation';

const settings = { retryMode: 'adaptive', maxAttempts: 8 } as const;
const clients = {
  secretsManager: new SecretsManagerClient(settings),
  elastiCache: new ElastiCacheClient(settings),
};

/** Time kept back from the invocation's for the last look, the error and the log. */
const MARGIN_MS = 30_000;

function settingsOf(env: NodeJS.ProcessEnv): CacheTokenRotationSettings {
  const read = (name: string) => {
    const value = env[name];
    if (!value) throw new Error(`cache token rotation: environment variable ${name} is not set`);
    return value;
  };
  return { secretArn: read('SECRET_ARN'), replicationGroupId: read('REPLICATION_GROUP_ID') };
}

/** The token secret's rotation function (Secrets Manager invokes it once per step). */
export async function handler(event: unknown, context: { getRemainingTimeInMillis(): number }): Promise<StepOutcome> {
  const wait = {
    now: () => Date.now(),
    sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
    deadline: Date.now() + context.getRemainingTimeInMillis() - MARGIN_MS,
  };
  const outcome = await rotateCacheToken(event, settingsOf(process.env), clients, wait);
  console.log(JSON.stringify({ message: 'cache token rotation', ...outcome }));
  return outcome;
}
