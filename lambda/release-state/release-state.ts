import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  UpdateAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  DeleteParameterCommand,
  GetParameterCommand,
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';

/**
 * The environment's release state, kept by a CloudFormation custom resource:
 * - creates the current-image and current-release parameters *if absent* and never
 *   overwrites them afterwards (they belong to the deploy step once it has run), so a
 *   later `cdk deploy` never rolls a release back;
 * - applies each fleet's configured capacity floor, but only once a release exists: a
 *   new environment runs no instance until its first deploy, so nothing churns trying to
 *   boot an image with no app.
 */

export interface FleetCapacity {
  readonly autoScalingGroupName: string;
  readonly minCapacity: number;
  readonly maxCapacity: number;
}

export interface ReleaseStateProperties {
  readonly currentImageParameter: string;
  readonly currentReleaseParameter: string;
  /** Image the current-image parameter starts with; no instance launches from it (capacity is 0). */
  readonly initialImageId: string;
  /** Release value meaning "nothing deployed yet". */
  readonly noRelease: string;
  /**
   * Create the parameters if absent and delete them with the stack. One resource does
   * this, before the launch templates (which resolve the image parameter); another one,
   * after the Auto Scaling groups, applies the floors.
   */
  readonly manageParameters: boolean;
  readonly fleets: readonly FleetCapacity[];
}

export interface ReleaseStateClients {
  readonly ssm: Pick<SSMClient, 'send'>;
  readonly autoScaling: Pick<AutoScalingClient, 'send'>;
}

export type RequestType = 'Create' | 'Update' | 'Delete';

export interface ReleaseStateResult {
  readonly PhysicalResourceId: string;
  readonly Data: { readonly Release: string; readonly FloorsApplied: string };
}

async function putIfAbsent(ssm: ReleaseStateClients['ssm'], name: string, value: string, dataType: string): Promise<void> {
  try {
    await ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: 'String', DataType: dataType, Overwrite: false }));
  } catch (e) {
    if (!(e instanceof ParameterAlreadyExists) && (e as { name?: string }).name !== 'ParameterAlreadyExists') throw e;
  }
}

async function deleteIfPresent(ssm: ReleaseStateClients['ssm'], name: string): Promise<void> {
  try {
    await ssm.send(new DeleteParameterCommand({ Name: name }));
  } catch (e) {
    if (!(e instanceof ParameterNotFound) && (e as { name?: string }).name !== 'ParameterNotFound') throw e;
  }
}

/** Raises each fleet to its floor (and lowers it to its ceiling) without touching instances already within range. */
async function applyFloors(autoScaling: ReleaseStateClients['autoScaling'], fleets: readonly FleetCapacity[]): Promise<void> {
  if (fleets.length === 0) return;
  const described = await autoScaling.send(new DescribeAutoScalingGroupsCommand({
    AutoScalingGroupNames: fleets.map((f) => f.autoScalingGroupName),
  }));
  for (const fleet of fleets) {
    const group = (described.AutoScalingGroups ?? []).find((g) => g.AutoScalingGroupName === fleet.autoScalingGroupName);
    if (!group) throw new Error(`Auto Scaling group ${fleet.autoScalingGroupName} not found; was it deleted outside CloudFormation?`);
    const desired = Math.min(Math.max(group.DesiredCapacity ?? 0, fleet.minCapacity), fleet.maxCapacity);
    await autoScaling.send(new UpdateAutoScalingGroupCommand({
      AutoScalingGroupName: fleet.autoScalingGroupName,
      MinSize: fleet.minCapacity,
      MaxSize: fleet.maxCapacity,
      DesiredCapacity: desired,
    }));
  }
}

export async function applyReleaseState(
  requestType: RequestType,
  props: ReleaseStateProperties,
  clients: ReleaseStateClients,
): Promise<ReleaseStateResult> {
  const physicalId = `${props.currentReleaseParameter}#${props.manageParameters ? 'parameters' : 'capacity-floors'}`;
  if (requestType === 'Delete') {
    // Only the stack's deletion gets here (the physical id never changes): the parameters go with it.
    if (props.manageParameters) {
      await deleteIfPresent(clients.ssm, props.currentImageParameter);
      await deleteIfPresent(clients.ssm, props.currentReleaseParameter);
    }
    return { PhysicalResourceId: physicalId, Data: { Release: props.noRelease, FloorsApplied: 'false' } };
  }
  if (props.manageParameters) {
    await putIfAbsent(clients.ssm, props.currentReleaseParameter, props.noRelease, 'text');
    await putIfAbsent(clients.ssm, props.currentImageParameter, props.initialImageId, 'aws:ec2:image');
  }
  const current = await clients.ssm.send(new GetParameterCommand({ Name: props.currentReleaseParameter }));
  const release = current.Parameter?.Value ?? props.noRelease;
  const released = release !== props.noRelease;
  if (released) await applyFloors(clients.autoScaling, props.fleets);
  return { PhysicalResourceId: physicalId, Data: { Release: release, FloorsApplied: String(released) } };
}

function isFleet(v: unknown): v is FleetCapacity {
  if (typeof v !== 'object' || v === null) return false;
  const f = v as Record<string, unknown>;
  return typeof f.autoScalingGroupName === 'string' && Number.isInteger(f.minCapacity) && Number.isInteger(f.maxCapacity);
}

/**
 * Narrows custom-resource properties. CloudFormation sends every scalar as a string, so
 * numbers are accepted in either form.
 */
export function parseProperties(raw: unknown): ReleaseStateProperties {
  if (typeof raw !== 'object' || raw === null) throw new Error('ResourceProperties missing');
  const p = raw as Record<string, unknown>;
  for (const key of ['CurrentImageParameter', 'CurrentReleaseParameter', 'InitialImageId', 'NoRelease']) {
    if (typeof p[key] !== 'string' || p[key] === '') throw new Error(`ResourceProperties.${key} must be a non-empty string, got ${JSON.stringify(p[key])}`);
  }
  const fleetsRaw = Array.isArray(p.Fleets) ? p.Fleets : [];
  const fleets = fleetsRaw.map((f: unknown) => {
    const o = (typeof f === 'object' && f !== null ? f : {}) as Record<string, unknown>;
    const fleet = { autoScalingGroupName: o.AutoScalingGroupName, minCapacity: Number(o.MinCapacity), maxCapacity: Number(o.MaxCapacity) };
    if (!isFleet(fleet)) throw new Error(`ResourceProperties.Fleets entry is malformed: ${JSON.stringify(f)}`);
    return fleet;
  });
  return {
    currentImageParameter: p.CurrentImageParameter as string,
    currentReleaseParameter: p.CurrentReleaseParameter as string,
    initialImageId: p.InitialImageId as string,
    noRelease: p.NoRelease as string,
    manageParameters: p.ManageParameters === true || p.ManageParameters === 'true',
    fleets,
  };
}
