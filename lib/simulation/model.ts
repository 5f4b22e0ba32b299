/**
 * The fake cloud's state, one record per AWS resource it models (lib/simulation/fake-cloud.ts
 * holds them in its maps; the service models under lib/simulation/services/ read and change them).
 */
import type * as asg from '@aws-sdk/client-auto-scaling';
import type * as elb from '@aws-sdk/client-elastic-load-balancing-v2';
import type { HerdAlarmShape } from '../alarms';
import type { Architecture } from '../architecture';

export type Tags = Record<string, string>;

export interface Instance {
  id: string;
  imageId: string;
  instanceType: string;
  state: 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';
  launchedAt: number;
  stateAt: number;
  /** Names of the app settings (parameters under `env/` and `secret-env/`) when it launched: what its boot rendered. */
  settings?: string[];
  tags: Tags;
  userData: string;
  shutdownBehavior: 'stop' | 'terminate';
  clientToken?: string;
  ltId?: string;
  ltVersion?: string;
  group?: string;
  reported?: boolean;
  /**
   * Instance profile the instance runs with (its ARN, or its name if the request gave only that):
   * RunInstances' IamInstanceProfile, which overrides the launch template's, else the launch
   * template version's (absent: none).
   */
  instanceProfileArn?: string;
  /** Root volume from RunInstances' BlockDeviceMappings (absent: the image's default). */
  rootVolume?: { deviceName: string; sizeGiB?: number; type?: string; encrypted: boolean; kmsKeyId?: string };
  /** The subnet RunInstances launched it into. */
  subnetId?: string;
  /** Reboots CreateImage caused (an image of a running instance without NoReboot). */
  reboots?: number;
}

export interface Image {
  id: string;
  name: string;
  architecture: Architecture;
  state: 'pending' | 'available' | 'failed';
  createdAt: number;
  tags: Tags;
  snapshotId: string;
  release?: string;
}

export interface LtVersion {
  number: number;
  /** A literal AMI id, or `resolve:ssm:<parameter>` (resolved by EC2 at each launch). */
  imageId?: string;
  instanceType?: string;
  userData?: string;
  /** The launch template's IamInstanceProfile (ARN). */
  instanceProfileArn?: string;
  description?: string;
  clientToken?: string;
}

export interface LaunchTemplate {
  id: string;
  name: string;
  versions: LtVersion[];
  defaultVersion: number;
  tags: Tags;
  createdAt: number;
}

export interface GroupInstance {
  id: string;
  /** `Pending:Wait`: launched and running, held by a launch lifecycle hook (not registered in the group's target group yet). */
  lifecycle: 'Pending' | 'Pending:Wait' | 'InService' | 'Terminating' | 'Terminated';
  health: 'Healthy' | 'Unhealthy';
  ltVersion: string;
  launchedAt: number;
  inServiceAt?: number;
  terminatingAt?: number;
  /** When the instance entered `Pending:Wait` (its hook's heartbeat timeout runs from there). */
  waitingSince?: number;
  protectedFromScaleIn?: boolean;
}

export interface Refresh {
  id: string;
  group: string;
  status: string;
  reason?: string;
  desiredVersion: string;
  previousVersion: string;
  preferences: asg.RefreshPreferences;
  startTime: number;
  endTime?: number;
  percentage: number;
  checkpointUntil?: number;
  nextCheckpoint: number;
  rollingBack: boolean;
  toUpdate: number;
}

export interface Group {
  name: string;
  role: string;
  /** The group's tags (`herd:app`, `herd:environment`), propagated to the instances it launches. */
  tags: Tags;
  ltId: string;
  ltVersion: string;
  min: number;
  max: number;
  desired: number;
  instances: GroupInstance[];
  suspended: Set<string>;
  targetGroupArn?: string;
  refreshes: Refresh[];
  /** Launch lifecycle hooks (`PutLifecycleHook` with `autoscaling:EC2_INSTANCE_LAUNCHING`), by name. */
  launchHooks?: Map<string, LaunchHook>;
}

/** A launch lifecycle hook: new instances wait in `Pending:Wait` until completed or `heartbeatTimeoutSeconds` pass. */
export interface LaunchHook {
  name: string;
  heartbeatTimeoutSeconds: number;
  defaultResult: 'CONTINUE' | 'ABANDON';
}

/** A listener: its default action forwards to one target group (ModifyListener changes it); its rules. */
export interface ListenerState {
  defaultTargetGroupArn?: string;
}

export interface Target {
  id: string;
  state: 'initial' | 'healthy' | 'unhealthy' | 'draining';
  registeredAt: number;
  passes: number;
  fails: number;
  drainingAt?: number;
}

export interface Rule {
  arn: string;
  priority: number;
  conditions: elb.RuleCondition[];
  actions: elb.Action[];
  tags: Tags;
}

/** An `aws:ec2:image` PutParameter that SSM has not validated yet. */
export interface PendingParameter {
  name: string;
  value: string;
  at: number;
}


export interface DbSnapshot {
  id: string;
  instance: string;
  createdAt: number;
  status: 'creating' | 'available';
  tags: Tags;
}

/**
 * A CloudWatch metric alarm on one of herd's load-balancer metrics, evaluated once a period
 * over what the fake computes (`services/cloudwatch.ts`). An alarm without `shape` is only a
 * name and a state (a test sets it).
 */
export interface FakeAlarm {
  readonly name: string;
  readonly shape?: HerdAlarmShape;
  readonly threshold?: number;
  /** Target group whose targets (and the requests they serve) the metric counts. */
  readonly targetGroupArn?: string;
  state: 'OK' | 'ALARM';
  /** One datapoint per period, oldest first (undefined: no data that period). */
  readonly datapoints: (number | undefined)[];
  /** State changes, for tests and the scenario table. */
  readonly history: { readonly at: number; readonly state: 'OK' | 'ALARM'; readonly reason: string }[];
  /** The period being accumulated: 5xx responses, most unhealthy targets, slowest p99, requests. */
  current: { errors: number; unhealthy: number; p99: number; requests: number };
}
