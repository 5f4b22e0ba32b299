import {
  DeleteParameterCommand,
  GetParameterCommand,
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { stringProperties, type RequestType } from '../custom-resource';

/**
 * The environment's release parameters, kept by a CloudFormation custom resource of the
 * `herd-<env>-release-state` stack, which `cdk deploy herd-<env>` deploys first:
 * - `current-release` and `current-image` are created *if absent* and never overwritten
 *   afterwards (they belong to the deploy step once it has run), so a later `cdk deploy`
 *   never rolls a release back;
 * - `current-image` starts as the latest Amazon Linux 2023 AMI of the fleets' architecture,
 *   read here from its public parameter (the resource's properties name the parameter, not
 *   its value, so a new AL2023 release does not make the resource run again);
 * - SSM validates an `aws:ec2:image` parameter asynchronously (a 200 from PutParameter does
 *   not mean the parameter exists): the resource reports success only once `current-image`
 *   is readable, because the environment stack resolves it when its update starts.
 */

export interface ReleaseParametersProperties {
  readonly currentImageParameter: string;
  readonly currentReleaseParameter: string;
  /** Public parameter naming the AMI `current-image` starts with (no instance launches from it: capacity is 0). */
  readonly baseImageParameter: string;
  /** Release value meaning "nothing deployed yet". */
  readonly noRelease: string;
  /** Tags the parameters are created with (`herd:app`, `herd:environment`); none from a resource an older herd deployed. */
  readonly tags?: Readonly<Record<string, string>>;
}

export interface ReleaseStateClients {
  readonly ssm: Pick<SSMClient, 'send'>;
}

export interface WaitOptions {
  /** Longest wait for `current-image` to become readable. */
  readonly timeoutSeconds: number;
  readonly sleep: (ms: number) => Promise<void>;
}

export const DEFAULT_WAIT: WaitOptions = {
  timeoutSeconds: 90,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export type { RequestType } from '../custom-resource';

export interface ReleaseParametersResult {
  readonly PhysicalResourceId: string;
  readonly Data: { readonly Release: string; readonly Image: string };
}

function isNamed(err: unknown, name: string): boolean {
  return err instanceof Error && err.name === name;
}

/** A parameter's value, or undefined when it does not exist (yet). */
export async function readParameter(ssm: ReleaseStateClients['ssm'], name: string): Promise<string | undefined> {
  try {
    const res = await ssm.send(new GetParameterCommand({ Name: name }));
    return res.Parameter?.Value;
  } catch (err) {
    if (err instanceof ParameterNotFound || isNamed(err, 'ParameterNotFound')) return undefined;
    throw err;
  }
}

async function putIfAbsent(ssm: ReleaseStateClients['ssm'], name: string, value: string, dataType: string, tags: ReleaseParametersProperties['tags']): Promise<void> {
  const Tags = Object.entries(tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
  try {
    await ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: 'String', DataType: dataType, Overwrite: false, ...(Tags.length > 0 ? { Tags } : {}) }));
  } catch (err) {
    if (!(err instanceof ParameterAlreadyExists || isNamed(err, 'ParameterAlreadyExists'))) throw err;
  }
}

async function deleteIfPresent(ssm: ReleaseStateClients['ssm'], name: string): Promise<void> {
  try {
    await ssm.send(new DeleteParameterCommand({ Name: name }));
  } catch (err) {
    if (!(err instanceof ParameterNotFound || isNamed(err, 'ParameterNotFound'))) throw err;
  }
}

/**
 * Waits until `name` reads back (an `aws:ec2:image` write is validated asynchronously) and
 * returns its value; throws after `timeoutSeconds`.
 */
export async function waitReadable(ssm: ReleaseStateClients['ssm'], name: string, wait: WaitOptions, what: string): Promise<string> {
  let waited = 0;
  let delay = 1000;
  for (;;) {
    const value = await readParameter(ssm, name);
    if (value !== undefined) return value;
    if (waited + delay > wait.timeoutSeconds * 1000) {
      throw new Error(
        `${name} is still not readable ${wait.timeoutSeconds} s after writing ${what}: SSM validates aws:ec2:image parameters asynchronously and drops the write ` +
          'when the AMI does not exist in this region or the writer lacks ec2:DescribeImages',
      );
    }
    await wait.sleep(delay);
    waited += delay;
    delay = Math.min(delay * 2, 10_000);
  }
}

export async function applyReleaseParameters(
  requestType: RequestType,
  props: ReleaseParametersProperties,
  clients: ReleaseStateClients,
  wait: WaitOptions = DEFAULT_WAIT,
): Promise<ReleaseParametersResult> {
  const physicalId = `${props.currentReleaseParameter}#parameters`;
  if (requestType === 'Delete') {
    // Only the stack's deletion gets here (the physical id never changes): the parameters go with it.
    await deleteIfPresent(clients.ssm, props.currentImageParameter);
    await deleteIfPresent(clients.ssm, props.currentReleaseParameter);
    return { PhysicalResourceId: physicalId, Data: { Release: props.noRelease, Image: '' } };
  }
  await putIfAbsent(clients.ssm, props.currentReleaseParameter, props.noRelease, 'text', props.tags);
  let image = await readParameter(clients.ssm, props.currentImageParameter);
  if (image === undefined) {
    const base = await readParameter(clients.ssm, props.baseImageParameter);
    if (!base) throw new Error(`${props.baseImageParameter} not found: this region publishes no Amazon Linux 2023 image for the fleets' architecture`);
    await putIfAbsent(clients.ssm, props.currentImageParameter, base, 'aws:ec2:image', props.tags);
    image = await waitReadable(clients.ssm, props.currentImageParameter, wait, base);
  }
  const release = (await readParameter(clients.ssm, props.currentReleaseParameter)) ?? props.noRelease;
  return { PhysicalResourceId: physicalId, Data: { Release: release, Image: image } };
}

/**
 * Narrows custom-resource properties (CloudFormation sends every scalar as a string).
 * Properties of the resource as an older herd deployed it (`InitialImageId`, `Fleets`,
 * `ManageParameters`) are ignored.
 */
export function parseProperties(raw: unknown): ReleaseParametersProperties {
  const p = stringProperties(raw, ['CurrentImageParameter', 'CurrentReleaseParameter', 'BaseImageParameter', 'NoRelease']);
  const tags = (raw as { Tags?: unknown }).Tags;
  const validTags = typeof tags === 'object' && tags !== null && Object.values(tags).every((v) => typeof v === 'string') ? (tags as Record<string, string>) : undefined;
  return {
    currentImageParameter: p.CurrentImageParameter,
    currentReleaseParameter: p.CurrentReleaseParameter,
    baseImageParameter: p.BaseImageParameter,
    noRelease: p.NoRelease,
    ...(validTags ? { tags: validTags } : {}),
  };
}
