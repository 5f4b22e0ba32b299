/**
 * A stateful fake of the AWS APIs the deploy step calls, driven by a virtual clock.
 *
 * Processes move as virtual time passes: instances boot, builders bake and report,
 * images go pending → available, runners migrate and report, Auto Scaling groups keep
 * their capacity and run instance refreshes (min/max healthy, warmup, checkpoints, skip
 * matching, auto-rollback on alarms, cancel, rollback), target groups health-check,
 * deregistering targets drain. Malformed requests that AWS rejects are rejected here too,
 * so the fake cannot hide a bug in the logic under test.
 *
 * The code under test reaches it through the real AWS SDK v3 clients (`clients()`), whose
 * request handler is the fake (`transport.ts`): every HTTP attempt ends in `answer`, which
 * implements the APIs the deploy step, the custom resources and the CLI use; any other API
 * throws, so a new call in the logic needs its fake here first.
 *
 * This file is the core: the state (one map per kind of resource, records in `model.ts`),
 * virtual time (`advance`, one `tick` per second, `onTick` hooks), the `answer` dispatch
 * (handlers, throttling, faults, call records; `clients()`), seeding for worlds and tests,
 * and the queries the simulation reads. Each service's handlers and processes live in
 * `services/`, one module per service, to be read against its API reference:
 *
 * - `services/ec2.ts`: instances (boot, shutdown behaviour, the builder's bake and the
 *   runner's migration), images and snapshots, launch templates;
 * - `services/autoscaling.ts`: group capacity, instance refreshes;
 * - `services/elbv2.ts`: target health, draining, listener rules;
 * - `services/ssm.ts`: parameters, the asynchronous `aws:ec2:image` validation, GetParametersByPath, DescribeParameters;
 * - `services/dynamodb.ts`: GetItem/PutItem/DeleteItem/Query on the deploy table;
 * - `services/rds.ts`: DB snapshots, the account's snapshot quota;
 * - `services/elasticache.ts`: replication groups and their AUTH tokens (ROTATE, SET), for the token's rotation function;
 * - `services/cloudwatch.ts`: herd's alarms, evaluated over computed traffic and target health;
 * - `services/logs.ts`: the instances' boot logs, GetLogEvents and FilterLogEvents;
 * - `services/s3.ts`: HeadObject on the artifacts bucket;
 * - `services/cloudformation.ts`: DescribeStacks (the stack update model is `cloudformation.ts`);
 * - `services/sns.ts`: Publish to the notifications topic;
 * - `services/secrets-manager.ts`: the secrets `herd config --secret` writes (and reads for the instances), DescribeSecret for `herd doctor`;
 * - `services/ec2-account.ts`: EBS encryption by default, the Elastic IP quota and addresses,
 *   NAT gateways and their subnets' zones;
 * - `services/eventbridge.ts`: PutEvents onto the default bus;
 * - `services/iam.ts`: roles (GetRole: Auto Scaling's service-linked role);
 * - `services/kms.ts`: key policies (GetKeyPolicy: the EBS default key's);
 * - `services/service-quotas.ts`: applied and default quotas (GetServiceQuota, GetAWSDefaultServiceQuota);
 * - `services/lambda.ts`: Invoke of the functions a test registers (the role keeper);
 * - `services/common.ts`: helpers they share (AWS errors, tags, ids, filters).
 */
import type { MiddlewareStack } from '@smithy/types';
import type { DeployClients } from '../../lambda/deploy/clients';
import type { HerdAlarmShape } from '../alarms';
import { architectureOf, type Architecture } from '../architecture';
import { TAGS, parameterNames } from '../names';
import type { VirtualClock } from './clock';
import { Consistency, type ConsistencyOptions, type Visible } from './consistency';
import { FakeAwsError, THROTTLE_CODES } from './errors';
import type { ApiCall } from './iam/requests';
import type { DbSnapshot, FakeAlarm, Group, Image, Instance, LaunchTemplate, ListenerState, PendingParameter, Rule, Tags, Target } from './model';
import { DEFAULT_REQUESTS_PER_MINUTE, registerCloudWatch, tickAlarms } from './services/cloudwatch';
import { registerS3 } from './services/s3';
import { registerAutoScaling, tickGroups } from './services/autoscaling';
import { registerCloudFormation } from './services/cloudformation';
import { pad } from './services/common';
import { registerDynamoDb } from './services/dynamodb';
import { registerEc2, releaseOfInstance, resolveVersion, tickImages, tickInstances } from './services/ec2';
import { registerElbv2, tickTargetGroups } from './services/elbv2';
import { registerEventBridge } from './services/eventbridge';
import { registerRds, tickDbSnapshots } from './services/rds';
import { registerElastiCache, type FakeReplicationGroup } from './services/elasticache';
import { registerSns } from './services/sns';
import { registerSsm, tickPendingParameters } from './services/ssm';
import { registerSecretsManager, type FakeSecret } from './services/secrets-manager';
import { registerLogs, type LogEvent } from './services/logs';
import { defaultEc2Account, registerEc2Account, type Ec2Account } from './services/ec2-account';
import { registerSessionManager } from './services/session-manager';
import { defaultRoles, registerIam, type FakeRole } from './services/iam';
import { registerKms, type FakeKey } from './services/kms';
import { registerLambda, type FakeFunction } from './services/lambda';
import { defaultQuotas, registerServiceQuotas, type FakeQuota } from './services/service-quotas';
import { fakeDeployClients, type FakeEndpoint } from './transport';

/** The fake's names of the services: the deploy step's clients, and the CLI's others. */
export type ServiceName = keyof DeployClients | 'sfn' | 'sts' | 'secretsManager' | 'iam' | 'kms' | 'serviceQuotas' | 'elastiCache';

/** Timings of the simulated processes, seconds. */
export interface FakeTimings {
  /** Launch to `running` and SSH (AL2023 ≈ 26 s). */
  readonly bootSeconds: number;
  /** `running` to the app answering its health check. */
  readonly appStartSeconds: number;
  /** Builder launch to its bake report, for a release baked on a base image (`--layer release`: install, herd/build). */
  readonly bakeSeconds: number;
  /**
   * What a bake without a base adds: herd's instance setup and `herd/provision`. A base
   * image's builder reports `bootSeconds + provisionSeconds` after its launch; a bake in
   * one go from Amazon Linux (no base), `bakeSeconds + provisionSeconds`.
   */
  readonly provisionSeconds: number;
  /** CreateImage to `available`. */
  readonly imageSeconds: number;
  /** Runner `running` to its report. */
  readonly migrationSeconds: number;
  readonly dbSnapshotSeconds: number;
  /** `shutting-down` to `terminated`. */
  readonly shutdownSeconds: number;
  readonly healthCheckIntervalSeconds: number;
  /** Passing checks a new target needs (ALB: 1). */
  readonly initialHealthyChecks: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
  readonly healthCheckGracePeriodSeconds: number;
  readonly deregistrationDelaySeconds: number;
  /** PutParameter of an `aws:ec2:image` value to the value being readable (SSM validates it asynchronously). */
  readonly imageParameterSeconds: number;
}

export const DEFAULT_TIMINGS: FakeTimings = {
  bootSeconds: 26,
  appStartSeconds: 8,
  bakeSeconds: 120,
  provisionSeconds: 150,
  imageSeconds: 150,
  migrationSeconds: 25,
  dbSnapshotSeconds: 90,
  shutdownSeconds: 10,
  healthCheckIntervalSeconds: 10,
  initialHealthyChecks: 1,
  healthyThreshold: 2,
  unhealthyThreshold: 2,
  healthCheckGracePeriodSeconds: 60,
  deregistrationDelaySeconds: 30,
  imageParameterSeconds: 3,
};

/** How a release behaves in the simulation (faults are per release). */
export interface ReleaseBehaviour {
  /** Exit code of the bake (default 0). */
  readonly bakeExitCode?: number;
  /** The image stays `pending` forever. */
  readonly imageNeverAvailable?: boolean;
  /** Exit code of the `release:` command (default 0). */
  readonly migrationExitCode?: number;
  /** Instances of this release never pass their health check. */
  readonly neverHealthy?: boolean;
  /**
   * An app setting this release cannot start with: instances launched while a parameter of that
   * name exists under the environment's `env/` or `secret-env/` prefix (what boot renders) never
   * pass their health check; those launched before it keep serving.
   */
  readonly crashesWithSetting?: string;
  /**
   * Why the load balancer's health check fails for a `neverHealthy` release, as
   * DescribeTargetHealth's `TargetHealth.Reason` says it (default `Target.ResponseCodeMismatch`:
   * the app answers 502).
   */
  readonly unhealthyReason?: 'Target.ResponseCodeMismatch' | 'Target.Timeout' | 'Target.FailedHealthChecks';
  /** Lines the app's boot writes to boot.log on each instance (default: a few lines; a crash for a `neverHealthy` release). */
  readonly bootLog?: readonly string[];
  /** `running` to the app answering its health check, for this release (default: the timings'). */
  readonly appStartSeconds?: number;
  /** Share of requests this release answers with a 5xx (default 0). */
  readonly errorRate?: number;
  /** p99 response time of this release, seconds (default 0.15). */
  readonly p99Seconds?: number;
  /** Procfile process types (default web, worker, release). */
  readonly processes?: readonly string[];
  /**
   * Content of the release's `herd/provision` (default `DEFAULT_PROVISION`: every release
   * shares it); its SHA-256 is the artifact's `herd-provision` metadata.
   */
  readonly provision?: string;
  /** The artifact was uploaded without the `herd-provision` metadata (not by herd). */
  readonly noProvisionMetadata?: boolean;
  /** Exit code of a base image bake (`--layer base`) for this release's provision (default 0). */
  readonly baseBakeExitCode?: number;
}


/** A CloudFormation stack, as DescribeStacks shows it. */
export interface FakeStack {
  status: string;
  outputs?: Record<string, string>;
}

/** What SNS Publish or EventBridge PutEvents accepted (`services/sns.ts`, `services/eventbridge.ts`). */
export type PublishedMessage =
  | {
      readonly service: 'sns';
      readonly at: number;
      readonly topicArn: string;
      readonly subject?: string;
      readonly message: string;
      /** Message attributes by name: string values as sent, binary ones in base64. */
      readonly attributes: Readonly<Record<string, string>>;
    }
  | {
      readonly service: 'eventBridge';
      readonly at: number;
      /** Bus name (`default`). */
      readonly bus: string;
      readonly source: string;
      readonly detailType: string;
      /** The entry's Detail, parsed. */
      readonly detail: Readonly<Record<string, unknown>>;
      /** The entry's Time (ISO), when it had one. */
      readonly time?: string;
    };

/** A record of one call the logic made. */
export interface CallRecord {
  readonly at: number;
  readonly api: string;
  readonly throttled: boolean;
}

/** An error an API answers instead of doing its work (`FakeCloud.faults`). */
export interface ApiFault {
  /** `<service>:<Command without the suffix>`, e.g. `autoScaling:RollbackInstanceRefresh`. */
  readonly api: string;
  readonly code: string;
  readonly message?: string;
  readonly status?: number;
  /** Calls that fail; unset: every call until the fault is removed. */
  times?: number;
  /** Only calls whose input (as the service read it off the wire) this accepts fail; unset: every call. */
  readonly when?: (input: Readonly<Record<string, unknown>>) => boolean;
}

/** The principal of the calls `clients()` makes when none is named: the deploy step's advance function. */
export const DEPLOY_STEP_PRINCIPAL = 'deploy-step';

/**
 * Sees every call before it is answered, with the principal that made it
 * (`test/support/iam/`: IAM evaluation against the synthesized policies). It may throw,
 * as AWS answers AccessDenied.
 */
export type Authorizer = (call: ApiCall, cloud: FakeCloud) => void;

export type ThrottlePolicy = (service: ServiceName, api: string, attempt: number) => boolean;

/** A command class: its instances carry the input, its middleware stack names the output type. */
type CommandCtor<I extends object, O extends object> = abstract new (input: I) => { readonly input: I; readonly middlewareStack: MiddlewareStack<I, O> };

export interface FakeCloudOptions {
  readonly app: string;
  readonly env: string;
  readonly clock: VirtualClock;
  readonly timings?: Partial<FakeTimings>;
  readonly releases?: Readonly<Record<string, ReleaseBehaviour>>;
  readonly tableName: string;
  /** Architecture of the images the world seeds (default x86_64). */
  readonly architecture?: Architecture;
  /** Eventual consistency of what the API creates (default: none, everything visible at once). */
  readonly consistency?: ConsistencyOptions;
  /** Requests a minute the site receives (default 600), spread over the healthy web targets. */
  readonly requestsPerMinute?: number;
}

export class FakeCloud implements FakeEndpoint {
  readonly timings: FakeTimings;
  readonly clock: VirtualClock;
  readonly app: string;
  readonly env: string;
  readonly tableName: string;
  readonly releases: Record<string, ReleaseBehaviour>;
  readonly architecture: Architecture;
  /** Which new things EC2, SSM and ELBv2 do not show yet (`consistency.ts`). */
  readonly consistency: Consistency;

  readonly instances = new Map<string, Instance>();
  readonly images = new Map<string, Image>();
  readonly snapshots = new Map<string, { id: string; tags: Tags }>();
  readonly launchTemplates = new Map<string, LaunchTemplate>();
  readonly groups = new Map<string, Group>();
  readonly targetGroups = new Map<string, Map<string, Target>>();
  readonly listeners = new Map<string, Rule[]>();
  /**
   * Each listener's default action (a forward to one target group; `ModifyListener` changes it),
   * and the target group it forwarded to when created: the web group's own (`healthyServing`).
   */
  readonly listenerStates = new Map<string, ListenerState & { homeTargetGroupArn?: string }>();
  readonly parameters = new Map<string, string>();
  /** Descriptions of parameters, by name (PutParameter's `Description`, or the stack's). */
  readonly parameterDescriptions = new Map<string, string>();
  /** Secrets Manager secrets by name (`services/secrets-manager.ts`). */
  readonly secrets = new Map<string, FakeSecret>();
  /** `aws:ec2:image` writes SSM is still validating (visible `imageParameterSeconds` later, if the image is usable). */
  readonly pendingParameters: PendingParameter[] = [];
  readonly stacks = new Map<string, FakeStack>();
  readonly table = new Map<string, Record<string, unknown>>();
  readonly dbInstances = new Set<string>();
  /**
   * Until when (epoch ms) a database instance is in another state than `available`
   * (`backing-up` during its backup window, `modifying`…): no snapshot can be taken then.
   */
  readonly dbBusy = new Map<string, { status: string; until: number }>();
  /**
   * Automated backups of each database instance (`services/rds.ts`): kept `retentionDays`
   * (0: off, as BackupRetentionPeriod 0), restorable from `since` (epoch ms, the first
   * automated backup). An instance absent here has them off.
   */
  readonly dbAutomatedBackups = new Map<string, { retentionDays: number; since: number }>();
  /** Manual DB snapshots a region allows (RDS default 100): CreateDBSnapshot beyond it fails. */
  manualSnapshotQuota = 100;
  readonly dbSnapshots = new Map<string, DbSnapshot>();
  /** ElastiCache replication groups by id (`services/elasticache.ts`). */
  readonly replicationGroups = new Map<string, FakeReplicationGroup>();
  /** SNS topics that exist (ARNs): Publish to any other answers NotFound. */
  readonly topics = new Set<string>();
  /** EventBridge buses that exist, by name: the account's `default` always does. */
  readonly eventBuses = new Set<string>(['default']);
  /** Every message SNS and EventBridge accepted, in order. */
  readonly published: PublishedMessage[] = [];
  /**
   * PutEvents entry failures to answer next (`InternalFailure`, `ThrottlingException`: what
   * EventBridge reports under load), one per otherwise valid entry, in order.
   */
  readonly failNextEntries: { code: string; message: string }[] = [];
  /** CloudWatch alarms by name (`services/cloudwatch.ts` evaluates herd's). */
  readonly alarms = new Map<string, FakeAlarm>();
  /** CloudWatch Logs: log group name to log stream name to events (`services/logs.ts`: the instances' boot logs). */
  readonly logGroups = new Map<string, Map<string, LogEvent[]>>();
  /** EC2's account-level settings and quota-counted resources (`services/ec2-account.ts`). */
  readonly ec2Account: Ec2Account = defaultEc2Account();
  /** IAM roles by name (`services/iam.ts`): Auto Scaling's service-linked role to begin with. */
  readonly roles: Map<string, FakeRole>;
  /** KMS keys by key id (`services/kms.ts`). */
  readonly kmsKeys = new Map<string, FakeKey>();
  /** Service Quotas by `<service>/<quota>` (`services/service-quotas.ts`). */
  readonly serviceQuotas: Map<string, FakeQuota> = defaultQuotas();
  /** Lambda functions a test registered, by name (`services/lambda.ts`; `addFunction`). */
  readonly functions = new Map<string, FakeFunction>();
  /** Requests a minute the site receives. */
  requestsPerMinute: number;
  /**
   * Artifact keys missing from the artifacts bucket (`releases/<release>.tar.gz`): every other
   * release's artifact is there, as `herd deploy` uploads it before starting a deploy.
   */
  readonly missingArtifacts = new Set<string>();
  /**
   * The `herd-provision` metadata of artifacts actually uploaded (the sandbox's bucket), by
   * release: a builder checks its --provision against it rather than against the release's
   * simulated behaviour.
   */
  readonly artifactProvisions = new Map<string, string>();

  /** Subnets whose zone has no capacity for any instance type (RunInstances: InsufficientInstanceCapacity). */
  readonly noCapacity = new Set<string>();
  /**
   * Snapshots of images deregistered without `DeleteAssociatedSnapshots`, still "in use" until then (epoch ms).
   * @internal for service models (EC2).
   */
  readonly snapshotsInUseUntil = new Map<string, number>();
  /** Two consecutive reads may straddle a state change: a builder or runner reports and powers off between them. */
  races = false;
  /** Roles (`builder`, `release`) of the instances whose report and power-off straddled two reads, in order. */
  readonly straddled: string[] = [];
  private readonly pendingBeforeCall: (() => void)[] = [];

  readonly calls: CallRecord[] = [];
  /** Things the fake saw that AWS would allow but that break herd's promises (e.g. deregistering an image in use). */
  readonly violations: string[] = [];
  throttle: ThrottlePolicy | undefined;
  /** Called with every call (and its principal) before its handler runs: IAM evaluation in tests. */
  authorizer: Authorizer | undefined;
  /**
   * Errors an API answers instead of doing its work (a permission an operator removed, a
   * service outage): the first fault naming the API (`ec2:DeregisterImage`) that has tries
   * left (`times`, default forever) fails the call. Tests remove one to "fix the cause".
   */
  readonly faults: ApiFault[] = [];
  private readonly attempts = new Map<string, number>();
  private readonly tickHooks: ((cloud: FakeCloud) => void)[] = [];
  /**
   * Launch failures already reported as violations (`group image`), so a retrying group reports once.
   * @internal for service models (Auto Scaling).
   */
  readonly failedLaunches = new Set<string>();
  /**
   * The counter behind every id the fake makes up (instances, images, refreshes, rule ARNs).
   * @internal for service models (Auto Scaling, ELBv2).
   */
  seq = 0;

  constructor(options: FakeCloudOptions) {
    this.app = options.app;
    this.env = options.env;
    this.clock = options.clock;
    this.tableName = options.tableName;
    this.timings = { ...DEFAULT_TIMINGS, ...options.timings };
    this.releases = { ...options.releases };
    this.architecture = options.architecture ?? 'x86_64';
    this.consistency = new Consistency(options.consistency ?? { maxLagSeconds: 0, seed: 0 });
    this.requestsPerMinute = options.requestsPerMinute ?? DEFAULT_REQUESTS_PER_MINUTE;
    this.roles = defaultRoles(this.clock.now());
  }

  /** Records that the API created `id` now (it lags per `consistency`). */
  created(kind: Visible, id: string): void {
    this.consistency.created(kind, id, this.now());
  }

  /** Whether the API shows `id` yet. */
  visible(kind: Visible, id: string): boolean {
    return this.consistency.visible(kind, id, this.now());
  }

  // ---------------------------------------------------------------- time

  now(): number {
    return this.clock.now();
  }

  /** Runs `fn` after every virtual second (metrics, injected events). */
  onTick(fn: (cloud: FakeCloud) => void): void {
    this.tickHooks.push(fn);
  }

  /** Moves virtual time forward second by second, running every process. */
  advance(seconds: number): void {
    const whole = Math.max(0, Math.round(seconds));
    for (let i = 0; i < whole; i++) {
      this.clock.set(this.clock.now() + 1000);
      this.tick();
      for (const hook of this.tickHooks) hook(this);
    }
  }

  /**
   * One virtual second of every process, in this order: instances (boot, shutdown, bake,
   * migration), images, DB snapshots, pending `aws:ec2:image` parameters, groups (capacity,
   * instance refresh), target groups (health checks, draining).
   */
  private tick(): void {
    const now = this.now();
    tickInstances(this, now);
    tickImages(this, now);
    tickDbSnapshots(this, now);
    tickPendingParameters(this, now);
    tickGroups(this, now);
    tickTargetGroups(this, now);
    tickAlarms(this, now);
  }

  behaviour(release: string | undefined): ReleaseBehaviour {
    return (release && this.releases[release]) || {};
  }

  // ---------------------------------------------------------------- queries

  /** Whether a fleet instance's app answers its health check now. */
  appHealthy(instanceId: string, now = this.now()): boolean {
    const i = this.instances.get(instanceId);
    if (!i || i.state !== 'running') return false;
    const behaviour = this.behaviour(releaseOfInstance(this, i));
    if (behaviour.neverHealthy) return false;
    if (behaviour.crashesWithSetting !== undefined && (i.settings ?? []).includes(behaviour.crashesWithSetting)) return false;
    return now - i.stateAt >= (behaviour.appStartSeconds ?? this.timings.appStartSeconds) * 1000;
  }

  /**
   * The AMI a launch would boot (a `resolve:ssm:` image resolved), and whether it can: EC2
   * refuses to launch a deregistered or unavailable image.
   */
  launchableImage(imageId: string, instanceType?: string): { imageId: string; ok: boolean; reason?: string } {
    const resolved = imageId.startsWith('resolve:ssm:') ? (this.parameters.get(imageId.slice('resolve:ssm:'.length)) ?? '') : imageId;
    const image = this.images.get(resolved);
    if (image?.state !== 'available') return { imageId: resolved, ok: false, reason: 'is not available' };
    if (instanceType && architectureOf(instanceType) !== image.architecture) {
      return { imageId: resolved, ok: false, reason: `is ${image.architecture}, but ${instanceType} is ${architectureOf(instanceType)}` };
    }
    return { imageId: resolved, ok: true };
  }

  /**
   * Web instances that serve requests: healthy in the target group the listener forwards to
   * (the group's own, or the staging one a `full` deploy switched the listener to, whose
   * targets wait in `Pending:Wait`), and in service or held by a launch hook.
   */
  healthyServing(groupName: string): string[] {
    const g = this.groups.get(groupName);
    if (!g?.targetGroupArn) return [];
    const listener = [...this.listenerStates.values()].find((l) => l.homeTargetGroupArn === g.targetGroupArn);
    const serving = listener?.defaultTargetGroupArn ?? g.targetGroupArn;
    const targets = this.targetGroups.get(serving);
    return g.instances
      .filter((i) => (i.lifecycle === 'InService' || i.lifecycle === 'Pending:Wait') && targets?.get(i.id)?.state === 'healthy')
      .map((i) => i.id);
  }

  /**
   * Whether a listener's default action or one of its rules forwards to the target group: ELB
   * health-checks only the targets of such a group ("Health checks for Application Load
   * Balancer target groups"); the others are `unused`.
   */
  targetGroupInUse(arn: string): boolean {
    for (const l of this.listenerStates.values()) if (l.defaultTargetGroupArn === arn) return true;
    return [...this.listeners.values()].flat().some((r) => r.actions.some((a) => a.TargetGroupArn === arn || (a.ForwardConfig?.TargetGroups ?? []).some((t) => t.TargetGroupArn === arn)));
  }

  /** The maintenance rule at `priority`, if up. */
  maintenanceRule(listenerArn: string, priority: number): Rule | undefined {
    return this.listeners.get(listenerArn)?.find((r) => r.priority === priority && r.actions.some((a) => a.Type === 'fixed-response'));
  }

  // ---------------------------------------------------------------- seeding

  /**
   * A fresh id, `<prefix>-<hex>`.
   * @internal for service models (and seeding).
   */
  nextId(prefix: string, width = 17): string {
    this.seq += 1;
    return `${prefix}-${pad(this.seq, width)}`;
  }

  newInstance(spec: Omit<Instance, 'id' | 'state' | 'launchedAt' | 'stateAt' | 'settings'> & { state?: Instance['state'] }): string {
    const id = this.nextId('i');
    const now = this.now();
    // The app settings boot renders (`instance/boot.sh`), as they are when the instance launches.
    const names = parameterNames(this.app, this.env);
    const settings = [...this.parameters.keys()].filter((n) => n.startsWith(names.envPrefix) || n.startsWith(names.secretEnvPrefix)).map((n) => n.slice(n.lastIndexOf('/') + 1));
    this.instances.set(id, { ...spec, id, state: spec.state ?? 'pending', launchedAt: now, stateAt: now, settings });
    return id;
  }

  addImage(release: string, tags: Tags, state: Image['state'] = 'available', createdAt = this.now(), architecture: Architecture = this.architecture, ids?: { image: string; snapshot: string }): string {
    const id = ids?.image ?? this.nextId('ami');
    const snapshotId = ids?.snapshot ?? this.nextId('snap');
    this.images.set(id, { id, name: `herd-${this.app}-${release}-${id}`, architecture, state, createdAt, tags, snapshotId, release });
    this.snapshots.set(snapshotId, { id: snapshotId, tags });
    return id;
  }

  /** The latest Amazon Linux 2023 image of `architecture`, published at its public parameter as AWS does. */
  addBaseImage(architecture: Architecture = this.architecture, options: { current?: boolean } = {}): string {
    const id = this.nextId('ami');
    this.images.set(id, { id, name: `al2023-ami-base-${architecture}`, architecture, state: 'available', createdAt: this.now(), tags: {}, snapshotId: this.nextId('snap') });
    // An older one (`current: false`) is not what the parameter holds any more.
    if (options.current !== false) this.parameters.set(`/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${architecture}`, id);
    return id;
  }

  /**
   * A launch template with version 1 (image, user data, instance profile if given). Tagged as
   * the stack tags it (`herd:app`, `herd:environment`: this cloud's environment unless `options.env`).
   */
  addLaunchTemplate(imageId: string, userData: string, instanceType = 't3.small', options: { env?: string; name?: string; instanceProfileArn?: string } = {}): string {
    const id = this.nextId('lt');
    const env = options.env ?? this.env;
    this.launchTemplates.set(id, {
      id,
      name: options.name ?? `herd-${env}-${id}`,
      versions: [{ number: 1, imageId, userData, instanceType, ...(options.instanceProfileArn ? { instanceProfileArn: options.instanceProfileArn } : {}) }],
      defaultVersion: 1,
      tags: { [TAGS.app]: this.app, [TAGS.environment]: env },
      createdAt: this.now(),
    });
    return id;
  }

  /**
   * A group already serving: `desired` instances in service, healthy in the target group.
   * Tagged `herd:app` and `herd:environment` (this cloud's environment unless `spec.env`).
   */
  addGroup(spec: { name: string; role: string; ltId: string; desired: number; min: number; max: number; targetGroupArn?: string; env?: string }): void {
    const { env = this.env, ...rest } = spec;
    const tags: Tags = { [TAGS.app]: this.app, [TAGS.environment]: env };
    const g: Group = { ...rest, tags, ltVersion: '1', instances: [], suspended: new Set(), refreshes: [] };
    this.groups.set(g.name, g);
    const v = resolveVersion(this.launchTemplates.get(spec.ltId), '1');
    for (let n = 0; n < spec.desired; n++) {
      const id = this.newInstance({
        imageId: v.imageId ?? '',
        instanceType: v.instanceType ?? 't3.small',
        tags: { ...tags, [TAGS.role]: spec.role, 'aws:autoscaling:groupName': spec.name },
        userData: v.userData ?? '',
        shutdownBehavior: 'terminate',
        ltId: spec.ltId,
        ltVersion: '1',
        group: spec.name,
        ...(v.instanceProfileArn ? { instanceProfileArn: v.instanceProfileArn } : {}),
        state: 'running',
      });
      const inst = this.instances.get(id);
      if (inst) inst.stateAt = this.now() - 3600_000;
      g.instances.push({ id, lifecycle: 'InService', health: 'Healthy', ltVersion: '1', launchedAt: this.now() - 3600_000, inServiceAt: this.now() - 3600_000 });
      if (spec.targetGroupArn) {
        this.targetGroups.get(spec.targetGroupArn)?.set(id, { id, state: 'healthy', registeredAt: this.now() - 3600_000, passes: 5, fails: 0 });
      }
    }
  }

  /**
   * A Lambda function Invoke can call: `run` returns its result or throws (a function error).
   * `arn` is the function's unqualified ARN; its last part is the name Invoke looks up.
   */
  addFunction(arn: string, run: (event: unknown) => unknown): FakeFunction {
    const name = arn.slice(arn.lastIndexOf(':') + 1);
    const fn: FakeFunction = { name, arn, run, throttleNext: 0, invocations: [] };
    this.functions.set(name, fn);
    return fn;
  }

  addTargetGroup(arn: string): void {
    this.targetGroups.set(arn, new Map());
  }

  /** A listener whose default action forwards to `defaultTargetGroupArn`. */
  addListener(arn: string, defaultTargetGroupArn?: string): void {
    this.listeners.set(arn, []);
    this.listenerStates.set(arn, { ...(defaultTargetGroupArn ? { defaultTargetGroupArn, homeTargetGroupArn: defaultTargetGroupArn } : {}) });
  }

  /**
   * An alarm, OK to begin with: one of herd's (`shape`, evaluated over the target group's
   * traffic and health), or only a name whose state a test sets.
   */
  addAlarm(name: string, spec: { shape?: HerdAlarmShape; threshold?: number; targetGroupArn?: string } = {}): void {
    this.alarms.set(name, { name, ...spec, state: 'OK', datapoints: [], history: [], current: { errors: 0, unhealthy: 0, p99: 0, requests: 0 } });
  }

  // ---------------------------------------------------------------- clients

  private readonly clientSets = new Map<string, DeployClients>();

  /**
   * The deploy step's SDK clients (`createDeployClients`, as the Lambda builds them) sending
   * to this fake; one set per `principal` (who calls, for permission checks: the deploy step
   * unless named, e.g. `operator`, `release-state`), kept for the cloud's life as a warm Lambda
   * keeps its clients (and their retry quota).
   */
  clients(principal: string = DEPLOY_STEP_PRINCIPAL): DeployClients {
    let set = this.clientSets.get(principal);
    if (!set) {
      set = fakeDeployClients(this, { principal });
      this.clientSets.set(principal, set);
    }
    return set;
  }

  /** Calls per API (`ec2:RunInstances` …): every HTTP attempt, throttled and retried ones included. */
  callCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const c of this.calls) counts[c.api] = (counts[c.api] ?? 0) + 1;
    return counts;
  }

  private readonly handlers = new Map<string, (input: object) => unknown>();

  /**
   * Registers the handler of `service`'s command `ctor` (its API name is the class name without
   * `Command`), replacing any earlier one. The handler gets the input as the service read it
   * off the wire, and may answer asynchronously.
   * @internal for service models: each registers its handlers through this (and the CLI's
   * simulated environment, for Step Functions, STS and its S3 bucket).
   */
  on<I extends object, O extends object>(service: ServiceName, ctor: CommandCtor<I, O>, fn: (input: I) => Omit<O, '$metadata'> | Promise<Omit<O, '$metadata'>>): void {
    this.registerHandlers();
    this.handlers.set(`${service}:${ctor.name.replace(/Command$/, '')}`, fn as unknown as (input: object) => unknown);
  }

  /**
   * Runs `fn` just before the next API call is answered: a change that lands between two reads.
   * @internal for service models.
   */
  beforeNextCall(fn: () => void): void {
    this.pendingBeforeCall.push(fn);
  }

  /**
   * Writes a parameter as an instance does (PutParameter from a builder or runner): new ones lag
   * like any created thing.
   * @internal for service models.
   */
  writeParameter(name: string, value: string): void {
    if (!this.parameters.has(name)) this.created('parameter', name);
    this.parameters.set(name, value);
  }

  /**
   * Answers one HTTP attempt of `service`'s `api` (`DescribeInstances`): the single entry point
   * of every request the SDK clients send (`transport.ts`). In order: changes due before the
   * next call land, the call is recorded, the throttle policy and the faults may answer an
   * error, then the API's handler answers. `principal` is who calls: the
   * `authorizer` sees the call before its handler (unset: not checked).
   */
  async answer(service: string, api: string, input: Record<string, unknown>, principal?: string): Promise<Record<string, unknown>> {
    for (const fn of this.pendingBeforeCall.splice(0)) fn();
    const name = `${service}:${api}`;
    const attempt = (this.attempts.get(name) ?? 0) + 1;
    this.attempts.set(name, attempt);
    const throttled = this.throttle?.(service as ServiceName, api, attempt) ?? false;
    this.calls.push({ at: this.now(), api: name, throttled });
    if (throttled) {
      const t = THROTTLE_CODES[service] ?? { code: 'ThrottlingException', status: 400 };
      throw new FakeAwsError(t.code, 'Rate exceeded', t.status);
    }
    const fault = this.faults.find((f) => f.api === name && (f.times === undefined || f.times > 0) && (f.when?.(input) ?? true));
    if (fault) {
      if (fault.times !== undefined) fault.times -= 1;
      throw new FakeAwsError(fault.code, fault.message ?? `${fault.code} (injected)`, fault.status ?? 400);
    }
    this.registerHandlers();
    const handler = this.handlers.get(name);
    if (!handler) throw new Error(`the fake cloud does not implement ${name}`);
    if (principal !== undefined) this.authorizer?.({ principal, service: service as ServiceName, api, input }, this);
    // The input is the transport's fresh reading of the wire, and the output is serialized onto
    // it: neither is shared with the code under test.
    const output = await handler(input);
    return (output ?? {}) as Record<string, unknown>;
  }

  private registered = false;

  /** The service models' handlers, registered once, before the first call or the first handler registered from outside. */
  private registerHandlers(): void {
    if (this.registered) return;
    this.registered = true;
    registerEc2(this);
    registerAutoScaling(this);
    registerElbv2(this);
    registerSsm(this);
    registerSessionManager(this);
    registerDynamoDb(this);
    registerCloudFormation(this);
    registerRds(this);
    registerElastiCache(this);
    registerSns(this);
    registerEventBridge(this);
    registerCloudWatch(this);
    registerLogs(this);
    registerS3(this);
    registerSecretsManager(this);
    registerEc2Account(this);
    registerIam(this);
    registerKms(this);
    registerServiceQuotas(this);
    registerLambda(this);
  }
}
