import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { SSMClient } from '@aws-sdk/client-ssm';
import { applyReleaseState, parseProperties, ReleaseStateResult, RequestType } from './release-state';

const clients = {
  ssm: new SSMClient({ retryMode: 'adaptive', maxAttempts: 8 }),
  autoScaling: new AutoScalingClient({ retryMode: 'adaptive', maxAttempts: 8 }),
};

interface OnEvent {
  readonly RequestType: RequestType;
  readonly ResourceProperties: unknown;
}

function isOnEvent(e: unknown): e is OnEvent {
  if (typeof e !== 'object' || e === null) return false;
  const t = (e as Record<string, unknown>).RequestType;
  return t === 'Create' || t === 'Update' || t === 'Delete';
}

/** onEvent handler of the custom-resource provider framework. */
export async function handler(event: unknown): Promise<ReleaseStateResult> {
  if (!isOnEvent(event)) throw new Error(`Not a CloudFormation custom resource event: ${JSON.stringify(event)}`);
  return applyReleaseState(event.RequestType, parseProperties(event.ResourceProperties), clients);
}
