import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { isOnEvent } from '../custom-resource';
import { connectTls, keeperSettings, runKeeper } from './keeper';

const secretsManager = new SecretsManagerClient({ retryMode: 'adaptive', maxAttempts: 8 });

/**
 * The custom resource's onEvent handler (a delete keeps the roles: dropping them would cut the
 * app off a database that may outlive the stack) and the deploy step's direct invoke (any
 * other event). Fails, without logging a secret, when the roles cannot be kept.
 */
export async function handler(event: unknown): Promise<{ PhysicalResourceId?: string; Data?: Record<string, string>; user?: string }> {
  const settings = keeperSettings(process.env);
  const physicalId = `${settings.database}/${settings.group}`;
  if (isOnEvent(event) && event.RequestType === 'Delete') return { PhysicalResourceId: physicalId };
  const result = await runKeeper(settings, { secretsManager, connect: connectTls });
  console.log(JSON.stringify({ message: 'application roles kept', group: settings.group, ...result }));
  return isOnEvent(event) ? { PhysicalResourceId: physicalId, Data: { User: result.user } } : { user: result.user };
}
