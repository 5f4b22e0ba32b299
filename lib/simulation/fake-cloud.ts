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
 * It implements `send(command)` for the commands the deploy step uses; any other command
 * throws, so a new call in the logic needs its fake here first.
 */
import * as asg from '@aws-sdk/client-auto-scaling';
import * as cfn from '@aws-sdk/client-cloudformation';
import * as ec2 from '@aws-sdk/client-ec2';
import * as elb from '@aws-sdk/client-elastic-load-balancing-v2';
import * as rds from '@aws-sdk/client-rds';
import * as ssm from '@aws-sdk/client-ssm';
import * as ddb from '@aws-sdk/lib-dynamodb';
import type { MiddlewareStack } from '@smithy/types';
import type { DeployClients } from '../../lambda/deploy/clients';
import { architectureOf, type Architecture } from '../architecture';
import { TAGS, parameterNames } from '../names';
import type { VirtualClock } from './clock';
import { FakeAwsError, THROTTLE_CODES } from './errors';

export type ServiceName = keyof DeployClients;

/** Timings of the simulated processes, seconds. */
export interface FakeTimings {
  /** Launch to `running` and SSH (AL2023 ≈ 26 s). */
  readonly bootSeconds: number;
  /** `running` to the app answering its health check. */
  readonly appStartSeconds: number;
  /** Builder launch to its bake report. */
  readonly bakeSeconds: number;
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
  bakeSeconds: 270,
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
  /** Procfile process types (default web, worker, release). */
  readonly processes?: readonly string[];
}

type Tags = Record<string, string>;

interface Instance {
  id: string;
  imageId: string;
  instanceType: string;
  state: 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';
  launchedAt: number;
  stateAt: number;
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
  rootVolume?: { deviceName: string; sizeGiB?: number; type?: string; encrypted: boolean };
  /** Reboots CreateImage caused (an image of a running instance without NoReboot). */
  reboots?: number;
}

interface Image {
  id: string;
  name: string;
  architecture: Architecture;
  state: 'pending' | 'available' | 'failed';
  createdAt: number;
  tags: Tags;
  snapshotId: string;
  release?: string;
}

interface LtVersion {
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

interface LaunchTemplate {
  id: string;
  name: string;
  versions: LtVersion[];
  defaultVersion: number;
  tags: Tags;
  createdAt: number;
}

interface GroupInstance {
  id: string;
  lifecycle: 'Pending' | 'InService' | 'Terminating' | 'Terminated';
  health: 'Healthy' | 'Unhealthy';
  ltVersion: string;
  launchedAt: number;
  inServiceAt?: number;
  terminatingAt?: number;
  protectedFromScaleIn?: boolean;
}

interface Refresh {
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

interface Group {
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
}

interface Target {
  id: string;
  state: 'initial' | 'healthy' | 'unhealthy' | 'draining';
  registeredAt: number;
  passes: number;
  fails: number;
  drainingAt?: number;
}

interface Rule {
  arn: string;
  priority: number;
  conditions: elb.RuleCondition[];
  actions: elb.Action[];
  tags: Tags;
}

/** An `aws:ec2:image` PutParameter that SSM has not validated yet. */
interface PendingParameter {
  name: string;
  value: string;
  at: number;
}

/** A CloudFormation stack, as DescribeStacks shows it. */
export interface FakeStack {
  status: string;
  outputs?: Record<string, string>;
}

interface DbSnapshot {
  id: string;
  instance: string;
  createdAt: number;
  status: 'creating' | 'available';
}

/** A record of one call the logic made. */
export interface CallRecord {
  readonly at: number;
  readonly api: string;
  readonly throttled: boolean;
}

export type ThrottlePolicy = (service: ServiceName, api: string, attempt: number) => boolean;

const SCALING_PROCESSES = new Set([
  'Launch', 'Terminate', 'AddToLoadBalancer', 'AlarmNotification', 'AZRebalance', 'HealthCheck', 'InstanceRefresh',
  'ReplaceUnhealthy', 'ScheduledActions',
]);

const ACTIVE_REFRESH = new Set(['Pending', 'InProgress', 'Cancelling', 'RollbackInProgress', 'Baking']);

/** A command class: its instances carry the input, its middleware stack names the output type. */
type CommandCtor<I extends object, O extends object> = abstract new (input: I) => { readonly input: I; readonly middlewareStack: MiddlewareStack<I, O> };

function fail(code: string, message: string, status = 400): never {
  throw new FakeAwsError(code, message, status);
}

function tagsFrom(list: readonly { Key?: string; Value?: string }[] | undefined): Tags {
  const tags: Tags = {};
  for (const t of list ?? []) if (t.Key !== undefined) tags[t.Key] = t.Value ?? '';
  return tags;
}

function tagList(tags: Tags): { Key: string; Value: string }[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

function pad(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

export interface FakeCloudOptions {
  readonly app: string;
  readonly env: string;
  readonly clock: VirtualClock;
  readonly timings?: Partial<FakeTimings>;
  readonly releases?: Readonly<Record<string, ReleaseBehaviour>>;
  readonly tableName: string;
  /** Architecture of the images the world seeds (default x86_64). */
  readonly architecture?: Architecture;
}

export class FakeCloud {
  readonly timings: FakeTimings;
  readonly clock: VirtualClock;
  readonly app: string;
  readonly env: string;
  readonly tableName: string;
  readonly releases: Record<string, ReleaseBehaviour>;
  readonly architecture: Architecture;

  readonly instances = new Map<string, Instance>();
  readonly images = new Map<string, Image>();
  readonly snapshots = new Map<string, { id: string; tags: Tags }>();
  readonly launchTemplates = new Map<string, LaunchTemplate>();
  readonly groups = new Map<string, Group>();
  readonly targetGroups = new Map<string, Map<string, Target>>();
  readonly listeners = new Map<string, Rule[]>();
  readonly parameters = new Map<string, string>();
  /** `aws:ec2:image` writes SSM is still validating (visible `imageParameterSeconds` later, if the image is usable). */
  readonly pendingParameters: PendingParameter[] = [];
  readonly stacks = new Map<string, FakeStack>();
  readonly table = new Map<string, Record<string, unknown>>();
  readonly dbInstances = new Set<string>();
  readonly dbSnapshots = new Map<string, DbSnapshot>();
  readonly alarms = new Map<string, 'OK' | 'ALARM'>();

  readonly calls: CallRecord[] = [];
  /** Things the fake saw that AWS would allow but that break herd's promises (e.g. deregistering an image in use). */
  readonly violations: string[] = [];
  throttle: ThrottlePolicy | undefined;
  private readonly attempts = new Map<string, number>();
  private readonly tickHooks: ((cloud: FakeCloud) => void)[] = [];
  /** Launch failures already reported as violations (`group image`), so a retrying group reports once. */
  private readonly failedLaunches = new Set<string>();
  private seq = 0;

  constructor(options: FakeCloudOptions) {
    this.app = options.app;
    this.env = options.env;
    this.clock = options.clock;
    this.tableName = options.tableName;
    this.timings = { ...DEFAULT_TIMINGS, ...options.timings };
    this.releases = { ...options.releases };
    this.architecture = options.architecture ?? 'x86_64';
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

  private tick(): void {
    const now = this.now();
    const t = this.timings;
    for (const i of this.instances.values()) {
      if (i.state === 'pending' && now - i.launchedAt >= t.bootSeconds * 1000) this.setState(i, 'running');
      if (i.state === 'shutting-down' && now - i.stateAt >= t.shutdownSeconds * 1000) this.setState(i, 'terminated');
      if (i.state === 'stopping' && now - i.stateAt >= t.shutdownSeconds * 1000) this.setState(i, 'stopped');
      this.runInstanceProcess(i, now);
    }
    for (const image of this.images.values()) {
      const behaviour = this.behaviour(image.release);
      if (image.state === 'pending' && !behaviour.imageNeverAvailable && now - image.createdAt >= t.imageSeconds * 1000) image.state = 'available';
    }
    for (const s of this.dbSnapshots.values()) {
      if (s.status === 'creating' && now - s.createdAt >= t.dbSnapshotSeconds * 1000) s.status = 'available';
    }
    for (const p of [...this.pendingParameters]) {
      if (now - p.at < t.imageParameterSeconds * 1000) continue;
      this.pendingParameters.splice(this.pendingParameters.indexOf(p), 1);
      // SSM drops a write whose AMI does not exist or is not available; the old value stays.
      if (this.images.get(p.value)?.state === 'available') this.parameters.set(p.name, p.value);
      else this.violations.push(`SSM dropped the aws:ec2:image write of ${p.value} to ${p.name}: the image is not available`);
    }
    for (const g of this.groups.values()) this.tickGroup(g, now);
    for (const targets of this.targetGroups.values()) this.tickTargets(targets, now);
  }

  behaviour(release: string | undefined): ReleaseBehaviour {
    return (release && this.releases[release]) || {};
  }

  private setState(i: Instance, state: Instance['state']): void {
    i.state = state;
    i.stateAt = this.now();
  }

  /** Instance-initiated shutdown: honours the instance's shutdown behaviour. */
  private powerOff(i: Instance): void {
    this.setState(i, i.shutdownBehavior === 'terminate' ? 'shutting-down' : 'stopping');
  }

  private releaseOfInstance(i: Instance): string | undefined {
    return i.tags[TAGS.release] ?? this.images.get(i.imageId)?.release;
  }

  private runInstanceProcess(i: Instance, now: number): void {
    if (i.state !== 'running' || i.reported) return;
    const role = i.tags[TAGS.role];
    const release = this.releaseOfInstance(i);
    const behaviour = this.behaviour(release);
    if (role === 'builder' && this.watchdogFired(i, now)) {
      // `shutdown -h +N` at the top of the user data: a hung bake powers the builder off.
      i.reported = true;
      this.powerOff(i);
      return;
    }
    if (role === 'builder' && now - i.launchedAt >= this.timings.bakeSeconds * 1000) {
      const report = /--report '([^']+)'/.exec(i.userData)?.[1];
      if (!report) {
        this.violations.push(`builder ${i.id} has no --report in its user data`);
        i.reported = true;
        return;
      }
      const exitCode = behaviour.bakeExitCode ?? 0;
      this.parameters.set(
        `${report}${i.id}`,
        JSON.stringify({
          exitCode,
          logTail: exitCode === 0 ? 'bake complete' : `npm ERR! build failed\nexit status ${exitCode}`,
          processes: behaviour.processes ?? ['web', 'worker', 'release'],
        }),
      );
      i.reported = true;
      // herd-bake powers the builder off after reporting, on success and on failure.
      this.powerOff(i);
    }
    if (role === 'release' && now - i.stateAt >= this.timings.migrationSeconds * 1000) {
      if (!/--role release/.test(i.userData)) {
        this.violations.push(`runner ${i.id} user data does not run the release role`);
      }
      const exitCode = behaviour.migrationExitCode ?? 0;
      this.parameters.set(
        `${parameterNames(this.app, this.env).releaseRunsPrefix}${i.id}`,
        JSON.stringify({
          exitCode,
          logTail: exitCode === 0 ? 'Applying shop.0042_orders... OK' : 'django.db.utils.ProgrammingError: column "sku" does not exist',
        }),
      );
      i.reported = true;
      this.powerOff(i);
    }
  }

  /** A builder's watchdog (`shutdown -h +N` in its user data) has run out. */
  private watchdogFired(i: Instance, now: number): boolean {
    const minutes = /^shutdown -h \+(\d+)/m.exec(i.userData)?.[1];
    return minutes !== undefined && now - i.launchedAt >= Number(minutes) * 60_000;
  }

  /** Whether a fleet instance's app answers its health check now. */
  appHealthy(instanceId: string, now = this.now()): boolean {
    const i = this.instances.get(instanceId);
    if (!i || i.state !== 'running') return false;
    if (this.behaviour(this.releaseOfInstance(i)).neverHealthy) return false;
    return now - i.stateAt >= this.timings.appStartSeconds * 1000;
  }

  // ---------------------------------------------------------------- Auto Scaling

  private healthyReady(g: Group, gi: GroupInstance, warmupSeconds: number, now: number): boolean {
    if (gi.lifecycle !== 'InService' || gi.health !== 'Healthy') return false;
    if (g.targetGroupArn && this.targetGroups.get(g.targetGroupArn)?.get(gi.id)?.state !== 'healthy') return false;
    return now - (gi.inServiceAt ?? now) >= warmupSeconds * 1000;
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

  private launchInto(g: Group, version: string): void {
    const lt = this.launchTemplates.get(g.ltId);
    const v = this.resolveVersion(lt, version);
    const image = v.imageId ?? '';
    const instanceType = v.instanceType ?? 't3.small';
    const launchable = this.launchableImage(image, instanceType);
    if (!launchable.ok) {
      // AWS records a failed scaling activity and retries; nothing launches while the image is unusable.
      const key = `${g.name} ${launchable.imageId}`;
      if (!this.failedLaunches.has(key)) {
        this.failedLaunches.add(key);
        this.violations.push(`${g.name} cannot launch: image ${launchable.imageId || image} of its launch template version ${v.number} ${launchable.reason ?? 'is not available'}`);
      }
      return;
    }
    const id = this.newInstance({
      // EC2 resolves a `resolve:ssm:` image at launch: the instance runs the AMI the parameter held then.
      imageId: launchable.imageId,
      instanceType,
      tags: { [TAGS.app]: g.tags[TAGS.app] ?? this.app, [TAGS.environment]: g.tags[TAGS.environment] ?? this.env, [TAGS.role]: g.role, 'aws:autoscaling:groupName': g.name },
      userData: v.userData ?? '',
      shutdownBehavior: 'terminate',
      ltId: g.ltId,
      ltVersion: String(v.number),
      group: g.name,
      ...(v.instanceProfileArn ? { instanceProfileArn: v.instanceProfileArn } : {}),
    });
    g.instances.push({ id, lifecycle: 'Pending', health: 'Healthy', ltVersion: String(v.number), launchedAt: this.now() });
  }

  private startTerminating(g: Group, gi: GroupInstance): void {
    if (gi.lifecycle === 'Terminating' || gi.lifecycle === 'Terminated') return;
    gi.lifecycle = 'Terminating';
    gi.terminatingAt = this.now();
    const target = g.targetGroupArn ? this.targetGroups.get(g.targetGroupArn)?.get(gi.id) : undefined;
    if (target && target.state !== 'draining') {
      target.state = 'draining';
      target.drainingAt = this.now();
    }
  }

  private active(g: Group): GroupInstance[] {
    return g.instances.filter((i) => i.lifecycle === 'Pending' || i.lifecycle === 'InService');
  }

  private tickGroup(g: Group, now: number): void {
    const t = this.timings;
    for (const gi of g.instances) {
      const ec2i = this.instances.get(gi.id);
      if (gi.lifecycle === 'Pending' && ec2i?.state === 'running') {
        gi.lifecycle = 'InService';
        gi.inServiceAt = now;
        if (g.targetGroupArn) this.targetGroups.get(g.targetGroupArn)?.set(gi.id, { id: gi.id, state: 'initial', registeredAt: now, passes: 0, fails: 0 });
      }
      if ((gi.lifecycle === 'Pending' || gi.lifecycle === 'InService') && ec2i && (ec2i.state === 'shutting-down' || ec2i.state === 'terminated')) {
        gi.health = 'Unhealthy';
      }
      if (gi.lifecycle === 'InService' && g.targetGroupArn && now - (gi.inServiceAt ?? now) >= t.healthCheckGracePeriodSeconds * 1000) {
        if (this.targetGroups.get(g.targetGroupArn)?.get(gi.id)?.state === 'unhealthy') gi.health = 'Unhealthy';
      }
      if (gi.health === 'Unhealthy' && (gi.lifecycle === 'InService' || gi.lifecycle === 'Pending') && !g.suspended.has('ReplaceUnhealthy')) {
        this.startTerminating(g, gi);
      }
      if (gi.lifecycle === 'Terminating') {
        const drained = !g.targetGroupArn || now - (gi.terminatingAt ?? now) >= t.deregistrationDelaySeconds * 1000;
        if (drained && ec2i && ec2i.state !== 'shutting-down' && ec2i.state !== 'terminated') this.setState(ec2i, 'shutting-down');
        if (ec2i?.state === 'terminated') {
          gi.lifecycle = 'Terminated';
          if (g.targetGroupArn) this.targetGroups.get(g.targetGroupArn)?.delete(gi.id);
        }
      }
    }
    g.instances = g.instances.filter((i) => i.lifecycle !== 'Terminated');

    const refresh = g.refreshes.find((r) => ACTIVE_REFRESH.has(r.status));
    if (refresh) this.tickRefresh(g, refresh, now);

    const active = this.active(g);
    if (active.length < g.desired && !g.suspended.has('Launch')) {
      for (let n = active.length; n < g.desired; n++) this.launchInto(g, g.ltVersion);
    } else if (active.length > g.desired && !refresh && !g.suspended.has('Terminate')) {
      const victims = [...active].sort((a, b) => {
        const aOld = a.ltVersion !== g.ltVersion ? 0 : 1;
        const bOld = b.ltVersion !== g.ltVersion ? 0 : 1;
        return aOld - bOld || a.launchedAt - b.launchedAt;
      });
      for (const v of victims.slice(0, active.length - g.desired)) this.startTerminating(g, v);
    }
  }

  private tickRefresh(g: Group, r: Refresh, now: number): void {
    const prefs = r.preferences;
    if (r.status === 'Pending') r.status = 'InProgress';
    if (r.status === 'Cancelling') {
      r.status = 'Cancelled';
      r.reason = 'The instance refresh was cancelled.';
      r.endTime = now;
      return;
    }
    if (r.status === 'InProgress' && prefs.AutoRollback) {
      const firing = (prefs.AlarmSpecification?.Alarms ?? []).find((a) => this.alarms.get(a) === 'ALARM');
      if (firing) {
        r.status = 'RollbackInProgress';
        r.rollingBack = true;
        r.reason = `Alarm ${firing} is in ALARM state; rolling back to the previous configuration.`;
      }
    }
    const target = r.rollingBack ? r.previousVersion : r.desiredVersion;
    const d = g.desired;
    const active = this.active(g);
    const outdated = active.filter((i) => i.ltVersion !== target || (!prefs.SkipMatching && !r.rollingBack && i.launchedAt < r.startTime));
    r.percentage = d === 0 ? 100 : Math.max(0, Math.floor((100 * (d - Math.min(d, outdated.length))) / d));
    if (outdated.length === 0) {
      r.status = r.rollingBack ? 'RollbackSuccessful' : 'Successful';
      r.percentage = 100;
      r.endTime = now;
      if (!r.rollingBack) g.ltVersion = r.desiredVersion;
      r.reason = r.rollingBack ? r.reason : undefined;
      return;
    }
    if (r.checkpointUntil !== undefined && now < r.checkpointUntil) return;
    const checkpoints = prefs.CheckpointPercentages ?? [];
    const next = checkpoints[r.nextCheckpoint];
    if (!r.rollingBack && next !== undefined && r.percentage >= next) {
      r.nextCheckpoint += 1;
      r.checkpointUntil = now + (prefs.CheckpointDelay ?? 3600) * 1000;
      r.reason = `Waiting for checkpoint at ${next}%`;
      return;
    }
    const minPct = prefs.MinHealthyPercentage ?? 90;
    const maxPct = prefs.MaxHealthyPercentage ?? 100;
    const minHealthy = Math.ceil((d * minPct) / 100);
    const maxCap = maxPct > 100 ? Math.max(d + 1, Math.floor((d * maxPct) / 100)) : d;
    // Without a warmup, AWS falls back to the group's health-check grace period.
    const warmup = prefs.InstanceWarmup ?? this.timings.healthCheckGracePeriodSeconds;
    let healthy = active.filter((i) => this.healthyReady(g, i, warmup, now)).length;
    // Terminate outdated instances while the healthy count allows it (unhealthy ones first).
    const victims = [...outdated].sort((a, b) => Number(this.healthyReady(g, a, 0, now)) - Number(this.healthyReady(g, b, 0, now)) || a.launchedAt - b.launchedAt);
    let activeCount = active.length;
    for (const v of victims) {
      const isHealthy = this.healthyReady(g, v, warmup, now);
      if (isHealthy && healthy - 1 < minHealthy) break;
      const matchingActive = active.filter((i) => i.ltVersion === target && i.lifecycle !== 'Pending').length;
      if (isHealthy && activeCount - 1 < d && matchingActive === 0 && minPct >= 100) break;
      this.startTerminating(g, v);
      activeCount -= 1;
      if (isHealthy) healthy -= 1;
    }
    // Launch replacements within the max healthy budget.
    const matching = this.active(g).filter((i) => i.ltVersion === target).length;
    let count = this.active(g).length;
    let launches = Math.min(maxCap - count, d - matching);
    while (launches > 0) {
      this.launchInto(g, target);
      count += 1;
      launches -= 1;
    }
  }

  // ---------------------------------------------------------------- ELB

  private tickTargets(targets: Map<string, Target>, now: number): void {
    const t = this.timings;
    for (const target of targets.values()) {
      if (target.state === 'draining') {
        if (now - (target.drainingAt ?? now) >= t.deregistrationDelaySeconds * 1000) targets.delete(target.id);
        continue;
      }
      const since = Math.round((now - target.registeredAt) / 1000);
      if (since === 0 || since % t.healthCheckIntervalSeconds !== 0) continue;
      if (this.appHealthy(target.id, now)) {
        target.passes += 1;
        target.fails = 0;
        const need = target.state === 'initial' ? t.initialHealthyChecks : t.healthyThreshold;
        if (target.passes >= need) target.state = 'healthy';
      } else {
        target.fails += 1;
        target.passes = 0;
        if (target.fails >= t.unhealthyThreshold) target.state = 'unhealthy';
      }
    }
  }

  /** Web targets that are healthy and whose instance is in service (what serves requests). */
  healthyServing(groupName: string): string[] {
    const g = this.groups.get(groupName);
    if (!g?.targetGroupArn) return [];
    const targets = this.targetGroups.get(g.targetGroupArn);
    return g.instances.filter((i) => i.lifecycle === 'InService' && targets?.get(i.id)?.state === 'healthy').map((i) => i.id);
  }

  /** The maintenance rule at `priority`, if up. */
  maintenanceRule(listenerArn: string, priority: number): Rule | undefined {
    return this.listeners.get(listenerArn)?.find((r) => r.priority === priority && r.actions.some((a) => a.Type === 'fixed-response'));
  }

  // ---------------------------------------------------------------- seeding

  private nextId(prefix: string, width = 17): string {
    this.seq += 1;
    return `${prefix}-${pad(this.seq, width)}`;
  }

  newInstance(spec: Omit<Instance, 'id' | 'state' | 'launchedAt' | 'stateAt'> & { state?: Instance['state'] }): string {
    const id = this.nextId('i');
    const now = this.now();
    this.instances.set(id, { ...spec, id, state: spec.state ?? 'pending', launchedAt: now, stateAt: now });
    return id;
  }

  addImage(release: string, tags: Tags, state: Image['state'] = 'available', createdAt = this.now(), architecture: Architecture = this.architecture): string {
    const id = this.nextId('ami');
    const snapshotId = this.nextId('snap');
    this.images.set(id, { id, name: `herd-${this.app}-${release}-${id}`, architecture, state, createdAt, tags, snapshotId, release });
    this.snapshots.set(snapshotId, { id: snapshotId, tags });
    return id;
  }

  /** The latest Amazon Linux 2023 image of `architecture`, published at its public parameter as AWS does. */
  addBaseImage(architecture: Architecture = this.architecture): string {
    const id = this.nextId('ami');
    this.images.set(id, { id, name: `al2023-ami-base-${architecture}`, architecture, state: 'available', createdAt: this.now(), tags: {}, snapshotId: this.nextId('snap') });
    this.parameters.set(`/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${architecture}`, id);
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
    const v = this.resolveVersion(this.launchTemplates.get(spec.ltId), '1');
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

  addTargetGroup(arn: string): void {
    this.targetGroups.set(arn, new Map());
  }

  addListener(arn: string): void {
    this.listeners.set(arn, []);
  }

  // ---------------------------------------------------------------- clients

  /** `{ send }` clients backed by this fake, for the deploy step. */
  clients(): DeployClients {
    const client = (service: ServiceName) => ({ send: (command: object) => this.send(service, command) });
    return {
      ec2: client('ec2') as unknown as DeployClients['ec2'],
      autoScaling: client('autoScaling') as unknown as DeployClients['autoScaling'],
      elbv2: client('elbv2') as unknown as DeployClients['elbv2'],
      ssm: client('ssm') as unknown as DeployClients['ssm'],
      dynamodb: client('dynamodb') as unknown as DeployClients['dynamodb'],
      rds: client('rds') as unknown as DeployClients['rds'],
      cloudFormation: client('cloudFormation') as unknown as DeployClients['cloudFormation'],
    };
  }

  /** Calls per API (`ec2:RunInstances` …), throttled attempts included. */
  callCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const c of this.calls) counts[c.api] = (counts[c.api] ?? 0) + 1;
    return counts;
  }

  private readonly handlers = new Map<string, (input: object) => unknown>();

  private on<I extends object, O extends object>(service: ServiceName, ctor: CommandCtor<I, O>, fn: (input: I) => Omit<O, '$metadata'>): void {
    this.handlers.set(`${service}:${ctor.name.replace(/Command$/, '')}`, fn as unknown as (input: object) => unknown);
  }

  private async send(service: ServiceName, command: object): Promise<unknown> {
    const name = command.constructor.name.replace(/Command$/, '');
    const api = `${service}:${name}`;
    const attempt = (this.attempts.get(api) ?? 0) + 1;
    this.attempts.set(api, attempt);
    const throttled = this.throttle?.(service, name, attempt) ?? false;
    this.calls.push({ at: this.now(), api, throttled });
    if (throttled) {
      const t = THROTTLE_CODES[service] ?? { code: 'ThrottlingException', status: 400 };
      throw new FakeAwsError(t.code, 'Rate exceeded', t.status);
    }
    if (this.handlers.size === 0) this.registerHandlers();
    const handler = this.handlers.get(api);
    if (!handler) throw new Error(`the fake cloud does not implement ${api}`);
    const input = structuredClone((command as { input?: object }).input ?? {});
    const output = handler(input);
    return { ...(structuredClone(output) as object), $metadata: { httpStatusCode: 200 } };
  }

  private resolveVersion(lt: LaunchTemplate | undefined, version: string | undefined): LtVersion {
    if (!lt) fail('InvalidLaunchTemplateId.NotFound', 'The specified launch template does not exist.');
    const n = version === undefined || version === '$Default' ? lt.defaultVersion : version === '$Latest' ? lt.versions.length : Number(version);
    const v = Number.isInteger(n) ? lt.versions.find((x) => x.number === n) : undefined;
    if (!v) fail('InvalidLaunchTemplateId.VersionNotFound', `Could not find launch template version ${version} for ${lt.id}`);
    return v;
  }

  private requireImage(id: string | undefined): Image {
    const image = id ? this.images.get(id) : undefined;
    if (!image) fail('InvalidAMIID.NotFound', `The image id '[${id}]' does not exist`);
    return image;
  }

  private group(name: string | undefined): Group {
    const g = name ? this.groups.get(name) : undefined;
    if (!g) fail('ValidationError', `AutoScalingGroup name not found - AutoScalingGroup ${name} not found`);
    return g;
  }

  private describeInstance(i: Instance): ec2.Instance {
    return {
      InstanceId: i.id,
      ImageId: i.imageId,
      InstanceType: i.instanceType as ec2._InstanceType,
      State: { Name: i.state as ec2.InstanceStateName },
      LaunchTime: new Date(i.launchedAt),
      Tags: tagList(i.tags),
      ...(i.instanceProfileArn ? { IamInstanceProfile: { Arn: i.instanceProfileArn } } : {}),
    };
  }

  private filterMatches(filters: readonly { Name?: string; Values?: string[] }[] | undefined, get: (name: string) => string | undefined): boolean {
    for (const f of filters ?? []) {
      if (!f.Name || !f.Values) fail('InvalidParameterValue', 'A filter needs a Name and Values');
      const value = get(f.Name);
      if (value === undefined || !f.Values.includes(value)) return false;
    }
    return true;
  }

  private registerHandlers(): void {
    // ------------------------------------------------------------ EC2
    this.on('ec2', ec2.RunInstancesCommand, (input) => {
      if (input.MinCount !== 1 || input.MaxCount !== 1) fail('InvalidParameterValue', 'herd launches one instance at a time');
      if (input.ClientToken && input.ClientToken.length > 64) fail('InvalidParameterValue', 'ClientToken is longer than 64 characters');
      const existing = input.ClientToken ? [...this.instances.values()].find((i) => i.clientToken === input.ClientToken) : undefined;
      if (existing) return { Instances: [this.describeInstance(existing)] };
      let imageId = input.ImageId;
      let userData = input.UserData ? Buffer.from(input.UserData, 'base64').toString('utf8') : '';
      let instanceType = input.InstanceType as string | undefined;
      let ltId: string | undefined;
      let ltVersion: string | undefined;
      const profile = input.IamInstanceProfile;
      if (profile && !profile.Arn && !profile.Name) fail('InvalidParameterValue', 'IamInstanceProfile needs an Arn or a Name');
      // The request's profile overrides the launch template's (EC2 allows it alongside LaunchTemplate).
      let instanceProfileArn = profile?.Arn ?? profile?.Name;
      if (input.LaunchTemplate) {
        const lt = this.launchTemplates.get(input.LaunchTemplate.LaunchTemplateId ?? '');
        const v = this.resolveVersion(lt, input.LaunchTemplate.Version);
        imageId ??= v.imageId;
        userData ||= v.userData ?? '';
        instanceType ??= v.instanceType;
        instanceProfileArn ??= v.instanceProfileArn;
        ltId = lt?.id;
        ltVersion = String(v.number);
      }
      if (!imageId) fail('MissingParameter', 'The request must contain the parameter ImageId');
      if (imageId.startsWith('resolve:ssm:')) {
        // EC2 resolves the parameter now; the instance runs the AMI it holds.
        const name = imageId.slice('resolve:ssm:'.length);
        const value = this.parameters.get(name);
        if (value === undefined) fail('InvalidParameterValue', `The SSM parameter ${name} does not exist`);
        imageId = value;
      }
      const image = this.requireImage(imageId);
      if (image.state !== 'available') fail('InvalidAMIID.Unavailable', `The image ${imageId} is not available`);
      if (!instanceType) fail('MissingParameter', 'The request must contain the parameter InstanceType');
      if (architectureOf(instanceType) !== image.architecture) {
        fail('InvalidParameterValue', `The architecture '${architectureOf(instanceType)}' of the specified instance type does not match the architecture '${image.architecture}' of the specified AMI.`);
      }
      const tags: Tags = {};
      for (const spec of input.TagSpecifications ?? []) {
        if (spec.ResourceType === 'instance') Object.assign(tags, tagsFrom(spec.Tags));
      }
      let rootVolume: Instance['rootVolume'];
      for (const b of input.BlockDeviceMappings ?? []) {
        if (!b.DeviceName) fail('InvalidBlockDeviceMapping', 'A block device mapping needs a DeviceName');
        const size = b.Ebs?.VolumeSize;
        if (size !== undefined && (size < 8 || size > 16384)) fail('InvalidBlockDeviceMapping', `Volume of ${size} GiB is smaller than the snapshot (8 GiB) or too large`);
        if (b.Ebs?.VolumeType && !['gp2', 'gp3', 'io1', 'io2', 'st1', 'sc1', 'standard'].includes(b.Ebs.VolumeType)) {
          fail('InvalidParameterValue', `Invalid volume type ${b.Ebs.VolumeType}`);
        }
        if (b.DeviceName === '/dev/xvda') {
          rootVolume = { deviceName: b.DeviceName, encrypted: b.Ebs?.Encrypted === true, ...(size !== undefined ? { sizeGiB: size } : {}), ...(b.Ebs?.VolumeType ? { type: b.Ebs.VolumeType } : {}) };
        }
      }
      const shutdownBehavior = input.InstanceInitiatedShutdownBehavior === 'terminate' ? 'terminate' : 'stop';
      if (tags[TAGS.role] === 'builder') {
        if (shutdownBehavior !== 'stop') this.violations.push('builder launched with shutdown behaviour terminate: powering off after its bake would destroy it before it is imaged');
        if (!rootVolume?.encrypted) this.violations.push('builder launched without an encrypted root volume (/dev/xvda)');
      }
      const id = this.newInstance({
        imageId,
        instanceType,
        tags,
        userData,
        shutdownBehavior,
        ...(input.ClientToken ? { clientToken: input.ClientToken } : {}),
        ...(ltId ? { ltId, ltVersion } : {}),
        ...(instanceProfileArn ? { instanceProfileArn } : {}),
        ...(rootVolume ? { rootVolume } : {}),
      });
      const inst = this.instances.get(id);
      if (!inst) fail('InternalError', 'lost the instance', 500);
      return { Instances: [this.describeInstance(inst)] };
    });

    this.on('ec2', ec2.DescribeInstancesCommand, (input) => {
      let list = [...this.instances.values()];
      if (input.InstanceIds) {
        for (const id of input.InstanceIds) if (!this.instances.has(id)) fail('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
        list = list.filter((i) => input.InstanceIds?.includes(i.id));
      }
      list = list.filter((i) =>
        this.filterMatches(input.Filters, (name) => {
          if (name.startsWith('tag:')) return i.tags[name.slice(4)];
          if (name === 'instance-state-name') return i.state;
          if (name === 'image-id') return i.imageId;
          fail('InvalidParameterValue', `The filter '${name}' is invalid`);
        }),
      );
      return { Reservations: list.length ? [{ Instances: list.map((i) => this.describeInstance(i)) }] : [] };
    });

    this.on('ec2', ec2.TerminateInstancesCommand, (input) => {
      const ids = input.InstanceIds ?? [];
      if (ids.length === 0) fail('MissingParameter', 'The request must contain the parameter InstanceIds');
      for (const id of ids) if (!this.instances.has(id)) fail('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
      return {
        TerminatingInstances: ids.map((id) => {
          const i = this.instances.get(id);
          const previous = i?.state ?? 'terminated';
          if (i && i.state !== 'terminated' && i.state !== 'shutting-down') this.setState(i, 'shutting-down');
          return { InstanceId: id, PreviousState: { Name: previous as ec2.InstanceStateName }, CurrentState: { Name: (i?.state ?? 'terminated') as ec2.InstanceStateName } };
        }),
      };
    });

    this.on('ec2', ec2.CreateImageCommand, (input) => {
      const i = this.instances.get(input.InstanceId ?? '');
      if (!i) fail('InvalidInstanceID.NotFound', `The instance ID '${input.InstanceId}' does not exist`);
      if (i.state !== 'running' && i.state !== 'stopped') fail('IncorrectState', `Instance '${i.id}' is not in a state from which it can be imaged (${i.state})`);
      if (i.state === 'running' && !input.NoReboot) {
        // AWS shuts a running instance down for the snapshot and starts it again; a stopped one is imaged as is.
        i.reboots = (i.reboots ?? 0) + 1;
        i.stateAt = this.now();
      }
      const name = input.Name ?? '';
      if (!/^[A-Za-z0-9().\-/_ ]{3,128}$/.test(name)) fail('InvalidAMIName.Malformed', `AMI name ${name} is invalid`);
      if ([...this.images.values()].some((im) => im.name === name)) fail('InvalidAMIName.Duplicate', `AMI name ${name} is already in use by an AMI`);
      let tags: Tags = {};
      let snapTags: Tags = {};
      for (const spec of input.TagSpecifications ?? []) {
        if (spec.ResourceType === 'image') tags = tagsFrom(spec.Tags);
        else if (spec.ResourceType === 'snapshot') snapTags = tagsFrom(spec.Tags);
        else fail('InvalidParameterValue', `CreateImage cannot tag ${spec.ResourceType}`);
      }
      // An image has the architecture of the instance it was made from.
      const id = this.addImage(tags[TAGS.release] ?? '', tags, 'pending', this.now(), architectureOf(i.instanceType));
      const image = this.images.get(id);
      if (image) {
        image.name = name;
        const snap = this.snapshots.get(image.snapshotId);
        if (snap) snap.tags = snapTags;
      }
      return { ImageId: id };
    });

    this.on('ec2', ec2.DescribeImagesCommand, (input) => {
      let list = [...this.images.values()];
      if (input.ImageIds) {
        for (const id of input.ImageIds) this.requireImage(id);
        list = list.filter((im) => input.ImageIds?.includes(im.id));
      }
      list = list.filter((im) =>
        this.filterMatches(input.Filters, (name) => {
          if (name.startsWith('tag:')) return im.tags[name.slice(4)];
          if (name === 'state') return im.state;
          if (name === 'name') return im.name;
          fail('InvalidParameterValue', `The filter '${name}' is invalid`);
        }),
      );
      return {
        Images: list.map((im) => ({
          ImageId: im.id,
          Name: im.name,
          State: im.state as ec2.ImageState,
          CreationDate: new Date(im.createdAt).toISOString(),
          Architecture: im.architecture as ec2.ArchitectureValues,
          Tags: tagList(im.tags),
          BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: im.snapshotId } }],
        })),
      };
    });

    this.on('ec2', ec2.DeregisterImageCommand, (input) => {
      const image = this.images.get(input.ImageId ?? '');
      if (!image) fail('InvalidAMIID.NotFound', `The image id '[${input.ImageId}]' does not exist`);
      const users = [...this.instances.values()].filter((i) => i.imageId === image.id && i.state !== 'terminated');
      if (users.length > 0) this.violations.push(`deregistered ${image.id} while ${users.map((u) => u.id).join(', ')} run it`);
      for (const g of this.groups.values()) {
        const lt = this.launchTemplates.get(g.ltId);
        const n = g.ltVersion === '$Latest' ? lt?.versions.length : g.ltVersion === '$Default' ? lt?.defaultVersion : Number(g.ltVersion);
        const v = lt?.versions.find((x) => x.number === n);
        if (v?.imageId === image.id) this.violations.push(`deregistered ${image.id} used by ${g.name}'s launch template version ${g.ltVersion}`);
      }
      // Any environment's current image: a release baked in one environment may be promoted to another.
      const currentImage = /^\/herd\/[^/]+\/([^/]+)\/current-image$/;
      for (const [name, value] of this.parameters) {
        const env = currentImage.exec(name)?.[1];
        if (env !== undefined && value === image.id) {
          this.violations.push(env === this.env ? `deregistered current image ${image.id}` : `deregistered ${image.id}, the current image of ${env}`);
        }
      }
      this.images.delete(image.id);
      return {};
    });

    this.on('ec2', ec2.DeleteSnapshotCommand, (input) => {
      const id = input.SnapshotId ?? '';
      if (!this.snapshots.has(id)) fail('InvalidSnapshot.NotFound', `The snapshot '${id}' does not exist.`);
      const user = [...this.images.values()].find((im) => im.snapshotId === id);
      if (user) fail('InvalidSnapshot.InUse', `The snapshot ${id} is currently in use by ${user.id}`);
      this.snapshots.delete(id);
      return {};
    });

    this.on('ec2', ec2.CreateLaunchTemplateVersionCommand, (input) => {
      const lt = this.launchTemplates.get(input.LaunchTemplateId ?? '');
      if (!lt) fail('InvalidLaunchTemplateId.NotFound', `The specified launch template, with template ID ${input.LaunchTemplateId}, does not exist.`);
      if (input.ClientToken) {
        const same = lt.versions.find((v) => v.clientToken === input.ClientToken);
        if (same) return { LaunchTemplateVersion: { LaunchTemplateId: lt.id, VersionNumber: same.number } };
      }
      const source = input.SourceVersion !== undefined ? this.resolveVersion(lt, input.SourceVersion) : undefined;
      const imageId = input.LaunchTemplateData?.ImageId ?? source?.imageId;
      const instanceProfileArn = input.LaunchTemplateData?.IamInstanceProfile?.Arn ?? source?.instanceProfileArn;
      if (imageId && !/^(ami-[0-9a-f]+|resolve:ssm:.+)$/.test(imageId)) fail('InvalidAMIID.Malformed', `Invalid id: "${imageId}"`);
      const userData = input.LaunchTemplateData?.UserData !== undefined ? Buffer.from(input.LaunchTemplateData.UserData, 'base64').toString('utf8') : source?.userData;
      const v: LtVersion = {
        number: lt.versions.length + 1,
        ...(imageId ? { imageId } : {}),
        ...(userData ? { userData } : {}),
        ...(instanceProfileArn ? { instanceProfileArn } : {}),
        instanceType: input.LaunchTemplateData?.InstanceType ?? source?.instanceType ?? 't3.small',
        ...(input.VersionDescription ? { description: input.VersionDescription } : {}),
        ...(input.ClientToken ? { clientToken: input.ClientToken } : {}),
      };
      lt.versions.push(v);
      return { LaunchTemplateVersion: { LaunchTemplateId: lt.id, VersionNumber: v.number } };
    });

    this.on('ec2', ec2.DescribeLaunchTemplatesCommand, (input) => {
      const ids = input.LaunchTemplateIds;
      const names = input.LaunchTemplateNames;
      if (input.MaxResults !== undefined) {
        if (ids || names) fail('InvalidParameterCombination', 'The parameter MaxResults cannot be used with the parameter LaunchTemplateIds or LaunchTemplateNames');
        if (input.MaxResults < 1 || input.MaxResults > 200) fail('InvalidParameterValue', `MaxResults must be between 1 and 200 (received ${input.MaxResults})`);
      }
      let list = [...this.launchTemplates.values()].sort((a, b) => a.id.localeCompare(b.id));
      if (ids) {
        for (const id of ids) {
          if (!/^lt-[0-9a-f]{17}$/.test(id)) fail('InvalidLaunchTemplateId.Malformed', `The specified ID for the launch template (${id}) is not valid.`);
          if (!this.launchTemplates.has(id)) fail('InvalidLaunchTemplateId.NotFound', `At least one of the launch templates specified in the request does not exist.`);
        }
        list = list.filter((lt) => ids.includes(lt.id));
      }
      if (names) {
        for (const name of names) if (!list.some((lt) => lt.name === name)) fail('InvalidLaunchTemplateName.NotFoundException', 'At least one of the launch templates specified in the request does not exist.');
        list = list.filter((lt) => names.includes(lt.name));
      }
      list = list.filter((lt) =>
        this.filterMatches(input.Filters, (name) => {
          if (name.startsWith('tag:')) return lt.tags[name.slice(4)];
          if (name === 'launch-template-name') return lt.name;
          fail('InvalidParameterValue', `The filter '${name}' is invalid`);
        }),
      );
      const start = input.NextToken ? Number(input.NextToken) : 0;
      if (!Number.isInteger(start) || start < 0 || start > list.length) fail('InvalidPaginationToken', `The pagination token ${input.NextToken} is invalid`);
      const size = input.MaxResults ?? list.length;
      const page = list.slice(start, start + size);
      const next = start + size < list.length ? String(start + size) : undefined;
      return {
        LaunchTemplates: page.map((lt) => ({
          LaunchTemplateId: lt.id,
          LaunchTemplateName: lt.name,
          CreateTime: new Date(lt.createdAt),
          DefaultVersionNumber: lt.defaultVersion,
          LatestVersionNumber: lt.versions.length,
          Tags: tagList(lt.tags),
        })),
        ...(next ? { NextToken: next } : {}),
      };
    });

    this.on('ec2', ec2.DescribeLaunchTemplateVersionsCommand, (input) => {
      const lt = this.launchTemplates.get(input.LaunchTemplateId ?? '');
      if (!lt) fail('InvalidLaunchTemplateId.NotFound', `The specified launch template, with template ID ${input.LaunchTemplateId}, does not exist.`);
      const versions = input.Versions ? input.Versions.map((v) => this.resolveVersion(lt, v)) : lt.versions;
      return {
        LaunchTemplateVersions: [...new Set(versions)].map((v) => ({
          LaunchTemplateId: lt.id,
          VersionNumber: v.number,
          DefaultVersion: v.number === lt.defaultVersion,
          LaunchTemplateData: { ...(v.imageId ? { ImageId: v.imageId } : {}), ...(v.instanceProfileArn ? { IamInstanceProfile: { Arn: v.instanceProfileArn } } : {}) },
        })),
      };
    });

    // ------------------------------------------------------------ Auto Scaling
    this.on('autoScaling', asg.DescribeAutoScalingGroupsCommand, (input) => {
      if (input.MaxRecords !== undefined && (input.MaxRecords < 1 || input.MaxRecords > 100)) fail('ValidationError', `MaxRecords must be between 1 and 100 (received ${input.MaxRecords})`);
      const names = input.AutoScalingGroupNames ?? [...this.groups.keys()];
      const found = names
        .map((n) => this.groups.get(n))
        .filter((g): g is Group => g !== undefined)
        .filter((g) =>
          (input.Filters ?? []).every((f) => {
            if (!f.Name || !f.Values) fail('ValidationError', 'A filter needs a Name and Values');
            if (f.Name.startsWith('tag:')) return f.Values.includes(g.tags[f.Name.slice(4)] ?? '\u0000');
            if (f.Name === 'tag-key') return Object.keys(g.tags).some((k) => f.Values?.includes(k));
            if (f.Name === 'tag-value') return Object.values(g.tags).some((v) => f.Values?.includes(v));
            fail('ValidationError', `Filter name ${f.Name} is not supported`);
          }),
        );
      const start = input.NextToken ? Number(input.NextToken) : 0;
      if (!Number.isInteger(start) || start < 0 || start > found.length) fail('InvalidNextToken', `The token ${input.NextToken} is invalid`);
      const size = input.MaxRecords ?? 50;
      const next = start + size < found.length ? String(start + size) : undefined;
      return {
        ...(next ? { NextToken: next } : {}),
        AutoScalingGroups: found
          .slice(start, start + size)
          .map((g) => ({
            AutoScalingGroupName: g.name,
            LaunchTemplate: { LaunchTemplateId: g.ltId, Version: g.ltVersion },
            MinSize: g.min,
            MaxSize: g.max,
            DesiredCapacity: g.desired,
            DefaultCooldown: 300,
            AvailabilityZones: ['eu-west-1a', 'eu-west-1b'],
            HealthCheckType: g.targetGroupArn ? 'ELB' : 'EC2',
            CreatedTime: new Date(0),
            TargetGroupARNs: g.targetGroupArn ? [g.targetGroupArn] : [],
            SuspendedProcesses: [...g.suspended].map((p) => ({ ProcessName: p })),
            Tags: Object.entries(g.tags).map(([Key, Value]) => ({ Key, Value, ResourceId: g.name, ResourceType: 'auto-scaling-group', PropagateAtLaunch: true })),
            Instances: g.instances.map((i) => ({
              InstanceId: i.id,
              LifecycleState: (i.lifecycle === 'Terminating' ? 'Terminating' : i.lifecycle) as asg.LifecycleState,
              HealthStatus: i.health,
              AvailabilityZone: 'eu-west-1a',
              ProtectedFromScaleIn: false,
              LaunchTemplate: { LaunchTemplateId: g.ltId, Version: i.ltVersion },
            })),
          })),
      };
    });

    this.on('autoScaling', asg.UpdateAutoScalingGroupCommand, (input) => {
      const g = this.group(input.AutoScalingGroupName);
      if (input.LaunchTemplate) {
        if (input.LaunchTemplate.LaunchTemplateId !== g.ltId) fail('ValidationError', `Launch template ${input.LaunchTemplate.LaunchTemplateId} is not the group's`);
        const v = this.resolveVersion(this.launchTemplates.get(g.ltId), input.LaunchTemplate.Version);
        // Instance refresh, limitations: the launch template of a group whose refresh has a desired configuration cannot change until it ends.
        const refreshing = g.refreshes.find((r) => ACTIVE_REFRESH.has(r.status));
        if (refreshing && String(v.number) !== g.ltVersion) {
          fail('ValidationError', `An active instance refresh with a desired configuration exists. All configuration options derived from the desired configuration are not available for update while the instance refresh is active (${refreshing.id}).`);
        }
        g.ltVersion = input.LaunchTemplate.Version === '$Latest' || input.LaunchTemplate.Version === '$Default' ? input.LaunchTemplate.Version : String(v.number);
      }
      const min = input.MinSize ?? g.min;
      const max = input.MaxSize ?? g.max;
      const desired = input.DesiredCapacity ?? g.desired;
      if (min > max) fail('ValidationError', `Max bound, ${max}, must be greater than or equal to min bound, ${min}`);
      if (desired < min || desired > max) fail('ValidationError', `Desired capacity:${desired} must be between the specified min size:${min} and max size:${max}`);
      Object.assign(g, { min, max, desired });
      return {};
    });

    this.on('autoScaling', asg.SuspendProcessesCommand, (input) => {
      const g = this.group(input.AutoScalingGroupName);
      for (const p of input.ScalingProcesses ?? SCALING_PROCESSES) {
        if (!SCALING_PROCESSES.has(p)) fail('ValidationError', `Unknown scaling process ${p}`);
        g.suspended.add(p);
      }
      return {};
    });

    this.on('autoScaling', asg.ResumeProcessesCommand, (input) => {
      const g = this.group(input.AutoScalingGroupName);
      for (const p of input.ScalingProcesses ?? [...g.suspended]) {
        if (!SCALING_PROCESSES.has(p)) fail('ValidationError', `Unknown scaling process ${p}`);
        g.suspended.delete(p);
      }
      return {};
    });

    this.on('autoScaling', asg.TerminateInstanceInAutoScalingGroupCommand, (input) => {
      const g = [...this.groups.values()].find((x) => x.instances.some((i) => i.id === input.InstanceId));
      const gi = g?.instances.find((i) => i.id === input.InstanceId);
      if (!g || !gi) fail('ValidationError', `Instance Id not found - No managed instance found for instance ID: ${input.InstanceId}`);
      if (input.ShouldDecrementDesiredCapacity === undefined) fail('ValidationError', 'ShouldDecrementDesiredCapacity is required');
      if (gi.lifecycle === 'Terminating') fail('ValidationError', `The instance ${gi.id} is already terminating`);
      if (input.ShouldDecrementDesiredCapacity) {
        if (g.desired - 1 < g.min) {
          fail('ValidationError', `Currently, desiredSize equals minSize (${g.min}). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.`);
        }
        g.desired -= 1;
      }
      this.startTerminating(g, gi);
      return { Activity: { ActivityId: this.nextId('act'), AutoScalingGroupName: g.name, Cause: 'user request', StartTime: new Date(this.now()), StatusCode: 'InProgress' as const } };
    });

    this.on('autoScaling', asg.StartInstanceRefreshCommand, (input) => {
      const g = this.group(input.AutoScalingGroupName);
      if (g.refreshes.some((r) => ACTIVE_REFRESH.has(r.status))) {
        fail('InstanceRefreshInProgressFault', 'An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.');
      }
      const p = input.Preferences ?? {};
      const min = p.MinHealthyPercentage ?? 90;
      const max = p.MaxHealthyPercentage ?? 100;
      if (min < 0 || min > 100) fail('ValidationError', `MinHealthyPercentage must be between 0 and 100 (received ${min})`);
      if (max < 100 || max > 200) fail('ValidationError', `MaxHealthyPercentage must be between 100 and 200 (received ${max})`);
      if (max - min > 100) fail('ValidationError', 'The difference between MaxHealthyPercentage and MinHealthyPercentage must not exceed 100');
      if (min === 100 && max === 100) fail('ValidationError', 'MaxHealthyPercentage must be greater than 100 when MinHealthyPercentage is 100');
      const cps = p.CheckpointPercentages ?? [];
      if (cps.some((c, i) => c < 1 || c > 100 || (i > 0 && c <= (cps[i - 1] ?? 0)))) fail('ValidationError', 'CheckpointPercentages must be increasing values from 1 to 100');
      for (const a of p.AlarmSpecification?.Alarms ?? []) if (!this.alarms.has(a)) fail('ValidationError', `Alarm ${a} does not exist`);
      const dc = input.DesiredConfiguration?.LaunchTemplate;
      if (dc && dc.LaunchTemplateId !== g.ltId) fail('ValidationError', `Launch template ${dc.LaunchTemplateId} is not the group's`);
      const lt = this.launchTemplates.get(g.ltId);
      const desired = dc ? this.resolveVersion(lt, dc.Version) : undefined;
      if (p.AutoRollback) {
        if (!dc) fail('ValidationError', 'AutoRollback requires a desired configuration');
        if (!/^\d+$/.test(dc.Version ?? '') || !/^\d+$/.test(g.ltVersion)) fail('ValidationError', 'AutoRollback is not supported with $Latest or $Default launch template versions');
        // Rolling back returns the group to its current version: both ends must name a literal AMI.
        const current = this.resolveVersion(lt, g.ltVersion);
        for (const [which, v] of [['desired', desired], ['current', current]] as const) {
          if (!v?.imageId?.startsWith('ami-')) {
            fail('ValidationError', `AutoRollback is not supported when the launch template (${which} version ${v?.number}) uses an SSM parameter instead of an AMI ID for its image`);
          }
        }
      }
      const r: Refresh = {
        id: `${pad(this.seq++, 8)}-refresh-${g.name}`,
        group: g.name,
        status: 'Pending',
        desiredVersion: desired ? String(desired.number) : g.ltVersion,
        previousVersion: g.ltVersion,
        preferences: p,
        startTime: this.now(),
        percentage: 0,
        nextCheckpoint: 0,
        rollingBack: false,
        toUpdate: this.active(g).length,
      };
      g.refreshes.unshift(r);
      return { InstanceRefreshId: r.id };
    });

    this.on('autoScaling', asg.DescribeInstanceRefreshesCommand, (input) => {
      const g = this.group(input.AutoScalingGroupName);
      let list = g.refreshes;
      if (input.InstanceRefreshIds) list = list.filter((r) => input.InstanceRefreshIds?.includes(r.id));
      return {
        InstanceRefreshes: list.slice(0, input.MaxRecords ?? 50).map((r) => ({
          InstanceRefreshId: r.id,
          AutoScalingGroupName: g.name,
          Status: r.status as asg.InstanceRefreshStatus,
          ...(r.reason ? { StatusReason: r.reason } : {}),
          StartTime: new Date(r.startTime),
          ...(r.endTime !== undefined ? { EndTime: new Date(r.endTime) } : {}),
          PercentageComplete: r.percentage,
          InstancesToUpdate: Math.max(0, r.toUpdate - Math.floor((r.toUpdate * r.percentage) / 100)),
          Preferences: r.preferences,
          DesiredConfiguration: { LaunchTemplate: { LaunchTemplateId: g.ltId, Version: r.desiredVersion } },
        })),
      };
    });

    this.on('autoScaling', asg.CancelInstanceRefreshCommand, (input) => {
      const g = this.group(input.AutoScalingGroupName);
      const r = g.refreshes.find((x) => x.status === 'InProgress' || x.status === 'Pending' || x.status === 'RollbackInProgress');
      if (!r) fail('ActiveInstanceRefreshNotFoundFault', 'No in progress or pending Instance Refresh found for Auto Scaling group');
      r.status = 'Cancelling';
      return { InstanceRefreshId: r.id };
    });

    this.on('autoScaling', asg.RollbackInstanceRefreshCommand, (input) => {
      const g = this.group(input.AutoScalingGroupName);
      const r = g.refreshes.find((x) => x.status === 'InProgress' || x.status === 'Pending');
      if (!r) fail('ActiveInstanceRefreshNotFoundFault', 'No in progress or pending Instance Refresh found for Auto Scaling group');
      if (!/^\d+$/.test(r.previousVersion)) fail('IrreversibleInstanceRefreshFault', 'The previous configuration uses $Latest or $Default and cannot be rolled back to');
      r.status = 'RollbackInProgress';
      r.rollingBack = true;
      r.reason = 'Rollback requested by user';
      return { InstanceRefreshId: r.id };
    });

    // ------------------------------------------------------------ ELBv2
    this.on('elbv2', elb.DescribeTargetHealthCommand, (input) => {
      const targets = this.targetGroups.get(input.TargetGroupArn ?? '');
      if (!targets) fail('TargetGroupNotFoundException', `Target group '${input.TargetGroupArn}' not found`);
      return {
        TargetHealthDescriptions: [...targets.values()].map((t) => ({
          Target: { Id: t.id, Port: 8000 },
          TargetHealth: { State: t.state as elb.TargetHealthStateEnum },
        })),
      };
    });

    this.on('elbv2', elb.DescribeRulesCommand, (input) => {
      const rules = this.listeners.get(input.ListenerArn ?? '');
      if (!rules) fail('ListenerNotFoundException', `Listener '${input.ListenerArn}' not found`);
      return {
        Rules: [
          ...rules.map((r) => ({ RuleArn: r.arn, Priority: String(r.priority), Conditions: r.conditions, Actions: r.actions, IsDefault: false })),
          { RuleArn: `${input.ListenerArn}/default`, Priority: 'default', Conditions: [], Actions: [{ Type: 'forward' as const }], IsDefault: true },
        ],
      };
    });

    this.on('elbv2', elb.CreateRuleCommand, (input) => {
      const rules = this.listeners.get(input.ListenerArn ?? '');
      if (!rules) fail('ListenerNotFoundException', `Listener '${input.ListenerArn}' not found`);
      const priority = input.Priority ?? 0;
      if (!Number.isInteger(priority) || priority < 1 || priority > 50000) fail('ValidationError', `Priority ${priority} must be between 1 and 50000`);
      if (rules.some((r) => r.priority === priority)) fail('PriorityInUseException', `Priority '${priority}' is currently in use`);
      if (!input.Conditions || input.Conditions.length === 0) fail('ValidationError', 'A rule needs at least one condition');
      if (!input.Actions || input.Actions.length === 0) fail('ValidationError', 'A rule needs at least one action');
      for (const a of input.Actions) {
        if (a.Type === 'fixed-response') {
          const f = a.FixedResponseConfig;
          if (!f || !/^(2|4|5)\d\d$/.test(f.StatusCode ?? '')) fail('ValidationError', 'Fixed response status code must be 2XX, 4XX or 5XX');
          if ((f.MessageBody ?? '').length > 1024) fail('ValidationError', `Fixed response message body is ${(f.MessageBody ?? '').length} characters; at most 1024 are allowed`);
          if (f.ContentType && !['text/plain', 'text/css', 'text/html', 'application/javascript', 'application/json'].includes(f.ContentType)) {
            fail('ValidationError', `Content type ${f.ContentType} is not supported`);
          }
        }
      }
      const rule: Rule = { arn: `${input.ListenerArn}/rule/${pad(this.seq++, 16)}`, priority, conditions: input.Conditions, actions: input.Actions, tags: tagsFrom(input.Tags) };
      rules.push(rule);
      return { Rules: [{ RuleArn: rule.arn, Priority: String(priority), Conditions: rule.conditions, Actions: rule.actions }] };
    });

    this.on('elbv2', elb.DeleteRuleCommand, (input) => {
      for (const rules of this.listeners.values()) {
        const i = rules.findIndex((r) => r.arn === input.RuleArn);
        if (i >= 0) {
          rules.splice(i, 1);
          return {};
        }
      }
      if (input.RuleArn?.endsWith('/default')) fail('OperationNotPermittedException', 'Default rules cannot be deleted');
      fail('RuleNotFoundException', `One or more rules not found`);
    });

    this.on('elbv2', elb.DescribeTagsCommand, (input) => ({
      TagDescriptions: (input.ResourceArns ?? []).map((arn) => {
        const rule = [...this.listeners.values()].flat().find((r) => r.arn === arn);
        if (!rule) fail('RuleNotFoundException', `One or more rules not found`);
        return { ResourceArn: arn, Tags: tagList(rule.tags) };
      }),
    }));

    // ------------------------------------------------------------ SSM
    this.on('ssm', ssm.GetParameterCommand, (input) => {
      const value = this.parameters.get(input.Name ?? '');
      if (value === undefined) fail('ParameterNotFound', `Parameter ${input.Name} not found.`);
      return { Parameter: { Name: input.Name, Value: value, Type: 'String' as const, Version: 1 } };
    });

    this.on('ssm', ssm.PutParameterCommand, (input) => {
      const name = input.Name ?? '';
      if (!name.startsWith('/')) fail('ValidationException', `Parameter name ${name} must be fully qualified`);
      if (input.Value === undefined || input.Value.length === 0) fail('ValidationException', 'Value must not be empty');
      if (this.parameters.has(name) && !input.Overwrite) fail('ParameterAlreadyExists', `The parameter ${name} already exists.`);
      if (input.DataType !== undefined && !['text', 'aws:ec2:image', 'aws:ssm:integration'].includes(input.DataType)) fail('ValidationException', `DataType ${input.DataType} is not supported`);
      if (input.DataType === 'aws:ec2:image') {
        if (!/^ami-[0-9a-f]+$/.test(input.Value)) fail('ValidationException', `Invalid format for DataType aws:ec2:image: ${input.Value}`);
        // SSM validates the image asynchronously: 200 now, the value readable (or dropped) later.
        this.pendingParameters.push({ name, value: input.Value, at: this.now() });
        return { Version: 1 };
      }
      this.parameters.set(name, input.Value);
      return { Version: 1 };
    });

    this.on('ssm', ssm.DeleteParameterCommand, (input) => {
      if (!this.parameters.delete(input.Name ?? '')) fail('ParameterNotFound', `Parameter ${input.Name} not found.`);
      return {};
    });

    // ------------------------------------------------------------ DynamoDB (document client)
    const key = (tableName: string | undefined, k: Record<string, unknown> | undefined): string => {
      if (tableName !== this.tableName) fail('ResourceNotFoundException', `Requested resource not found: Table: ${tableName} not found`);
      if (!k || typeof k.pk !== 'string' || typeof k.sk !== 'string' || Object.keys(k).length !== 2) {
        fail('ValidationException', 'The provided key element does not match the schema');
      }
      return `${k.pk}\u0000${k.sk}`;
    };
    const check = (expr: string | undefined, values: Record<string, unknown> | undefined, item: Record<string, unknown> | undefined): void => {
      if (!expr) return;
      const ok = expr.split(/\s+OR\s+/).some((term) => {
        let m = /^attribute_not_exists\((\w+)\)$/.exec(term.trim());
        if (m?.[1]) return item === undefined || !(m[1] in item);
        m = /^attribute_exists\((\w+)\)$/.exec(term.trim());
        if (m?.[1]) return item !== undefined && m[1] in item;
        m = /^(\w+)\s*=\s*(:\w+)$/.exec(term.trim());
        if (m?.[1] && m[2]) {
          if (!values || !(m[2] in values)) fail('ValidationException', `Value provided in ExpressionAttributeValues unused or missing: ${m[2]}`);
          return item !== undefined && item[m[1]] === values[m[2]];
        }
        fail('ValidationException', `the fake does not understand the condition ${term}`);
      });
      if (!ok) fail('ConditionalCheckFailedException', 'The conditional request failed');
    };
    this.on('dynamodb', ddb.GetCommand, (input) => {
      const item = this.table.get(key(input.TableName, input.Key));
      return item ? { Item: item } : {};
    });
    this.on('dynamodb', ddb.PutCommand, (input) => {
      const item = input.Item ?? {};
      const k = key(input.TableName, { pk: item.pk, sk: item.sk });
      check(input.ConditionExpression, input.ExpressionAttributeValues, this.table.get(k));
      if (JSON.stringify(item).length > 400_000) fail('ValidationException', 'Item size has exceeded the maximum allowed size');
      this.table.set(k, item);
      return {};
    });
    this.on('dynamodb', ddb.DeleteCommand, (input) => {
      const k = key(input.TableName, input.Key);
      check(input.ConditionExpression, input.ExpressionAttributeValues, this.table.get(k));
      this.table.delete(k);
      return {};
    });

    // ------------------------------------------------------------ CloudFormation
    this.on('cloudFormation', cfn.DescribeStacksCommand, (input) => {
      const name = input.StackName ?? '';
      const stack = this.stacks.get(name);
      if (!stack) fail('ValidationError', `Stack with id ${name} does not exist`);
      return {
        Stacks: [{
          StackName: name,
          StackStatus: stack.status as cfn.StackStatus,
          CreationTime: new Date(0),
          ...(stack.outputs ? { Outputs: Object.entries(stack.outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })) } : {}),
        }],
      };
    });

    // ------------------------------------------------------------ RDS
    this.on('rds', rds.CreateDBSnapshotCommand, (input) => {
      const id = input.DBSnapshotIdentifier ?? '';
      if (!this.dbInstances.has(input.DBInstanceIdentifier ?? '')) fail('DBInstanceNotFoundFault', `DBInstance ${input.DBInstanceIdentifier} not found.`);
      if (!/^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,254}$/.test(id) || id.endsWith('-')) fail('InvalidParameterValue', `The parameter DBSnapshotIdentifier is not a valid identifier: ${id}`);
      if (this.dbSnapshots.has(id)) fail('DBSnapshotAlreadyExistsFault', `Cannot create the snapshot because a snapshot with the identifier ${id} already exists.`);
      this.dbSnapshots.set(id, { id, instance: input.DBInstanceIdentifier ?? '', createdAt: this.now(), status: 'creating' });
      return { DBSnapshot: { DBSnapshotIdentifier: id, Status: 'creating' } };
    });
    this.on('rds', rds.DescribeDBSnapshotsCommand, (input) => {
      const s = this.dbSnapshots.get(input.DBSnapshotIdentifier ?? '');
      if (!s) fail('DBSnapshotNotFoundFault', `DBSnapshot ${input.DBSnapshotIdentifier} not found.`);
      return { DBSnapshots: [{ DBSnapshotIdentifier: s.id, DBInstanceIdentifier: s.instance, Status: s.status }] };
    });
  }
}
