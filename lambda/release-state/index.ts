import { SSMClient } from '@aws-sdk/client-ssm';
import { onEvent } from '../custom-resource';
import { applyReleaseParameters, parseProperties, type ReleaseParametersResult } from './release-state';

const clients = {
  ssm: new SSMClient({ retryMode: 'adaptive', maxAttempts: 8 }),
};

/** onEvent handler of the custom-resource provider framework. */
export async function handler(event: unknown): Promise<ReleaseParametersResult> {
  const e = onEvent(event);
  return applyReleaseParameters(e.RequestType, parseProperties(e.ResourceProperties), clients);
}
