/**
 * A simulated environment: the fake cloud seeded with a serving release, and the
 * `DeployEnvironment` the deploy step would receive for it. `herd plan` builds one from
 * the real configuration to predict a deploy.
 */
import type { AlarmConfig, DeployConfig, DeployTimeouts, RollingConfig } from '../config/types';
import { profileDefaults } from '../config/defaults';
import { HERD_ALARMS, HERD_ALARM_IDS, type HerdAlarmId } from '../alarms';
import type { DeployEnvironment } from '../../lambda/deploy/environment';
import { MANUAL_OWNER, maintenancePageHtml } from '../../lambda/deploy/maintenance';
import { amazonLinuxImageParameter, architectureOf } from '../architecture';
import { NO_RELEASE, STAGING_PRIORITY, STAGING_SOURCE_CIDR, TAGS, parameterNames, stackName } from '../names';
import { VirtualClock } from './clock';
import { FakeCloud, type FakeTimings, type ReleaseBehaviour } from './fake-cloud';
import { releaseOfInstance } from './services/ec2';
import { baseKey } from '../../lambda/deploy/base-image';
import { DEFAULT_PROVISION, provisionHash } from './provision';

export interface WorldSpec {
  readonly app?: string;
  readonly env?: string;
  /** Desired web instances (all serving at the start). */
  readonly web: number;
  /** Desired worker instances; absent = no worker fleet. */
  readonly worker?: number;
  /** Instance type of both fleets (default t3.small); its architecture is the images' (t4g… : arm64). */
  readonly instanceType?: string;
  /** The configuration's `ebsKmsKeyArn`: volumes herd launches (the builder's, the runner's) are encrypted with it. */
  readonly ebsKmsKeyArn?: string;
  readonly deploy?: Partial<Omit<DeployConfig, 'rolling' | 'timeouts'>> & {
    readonly rolling?: Partial<RollingConfig>;
    readonly timeouts?: Partial<DeployTimeouts>;
  };
  readonly timings?: Partial<FakeTimings>;
  readonly releases?: Readonly<Record<string, ReleaseBehaviour>>;
  /**
   * Release serving at the start; `none` for a fresh environment: the groups exist with
   * MinSize 0 and no instance, the launch templates resolve the image parameter, which
   * holds the base image (as the stack's ReleaseState leaves them).
   */
  readonly serving: string;
  /**
   * Configured floor and ceiling of each fleet (`DeployEnvironment.fleets.*.minCapacity/maxCapacity`).
   * Default: the group's own MinSize/MaxSize (a serving environment), or min 1 (a fresh one).
   */
  readonly capacity?: { readonly web?: FleetCapacity; readonly worker?: FleetCapacity };
  /** Builders/runners (by `herd:role`) a dead deploy step left running: tagged with another deploy. */
  readonly leftovers?: readonly ('builder' | 'release')[];
  /** Older releases whose images exist, oldest first (the serving one is added). */
  readonly baked?: readonly string[];
  /**
   * Layered bake: `current` (default), a base image of the current Amazon Linux image and the
   * default `herd/provision` exists, and every seeded release image was baked on it; `none`,
   * no base exists (the first deploy with herd's layered bake).
   */
  readonly base?: 'current' | 'none';
  /**
   * Seeded releases baked on an older base: one of the Amazon Linux image the public
   * parameter held before (it has moved on since), which exists while they need it.
   */
  readonly outdatedBase?: readonly string[];
  /** Images dead bakes left behind: `failed`, or `pending` since `ageMinutes` ago (tagged as herd tags its images). */
  readonly abandonedImages?: readonly { readonly release: string; readonly state: 'failed' | 'pending'; readonly ageMinutes: number }[];
  readonly amiRetention?: number;
  /** An operator's maintenance page is up before the deploy. */
  readonly maintenanceOn?: boolean;
  /** The environment has a database to snapshot. */
  readonly database?: boolean;
  /**
   * With a database: its role keeper (`lambda/role-keeper`), which the deploy step invokes after
   * a migration: `keeps` (default) returns as the keeper does, `fails` throws as it does when
   * PostgreSQL refuses a grant, `absent`: the environment names no keeper.
   */
  readonly roleKeeper?: 'keeps' | 'fails' | 'absent';
  /** The database is in another state than `available` for the first `seconds` (a backup window: `backing-up`). */
  readonly databaseBusy?: { readonly status: string; readonly seconds: number };
  /** Manual DB snapshots the region allows (RDS default 100). */
  readonly snapshotQuota?: number;
  /**
   * Days the database keeps automated backups (BackupRetentionPeriod; default 7, as herd's
   * stacks always turn them on); 0: off (changed by hand), so no point-in-time recovery.
   */
  readonly databaseBackupRetentionDays?: number;
  /** herd's pre-migration snapshots that exist already (ages in days), as earlier deploys left them. */
  readonly backups?: readonly number[];
  /**
   * herd's load-balancer alarms, always there (`herd-<env>-target5xx`, `-unhealthyhosts`,
   * `-latency`), evaluated over the computed traffic: thresholds (default: the config's
   * defaults for a non-production environment) and which ones a refresh with auto-rollback
   * names (default: herd's choice, `HERD_ALARMS[id].rollsBack`).
   */
  readonly alarms?: {
    readonly thresholds?: Partial<AlarmConfig>;
    readonly rollsBack?: readonly HerdAlarmId[];
    /** In ALARM when the deploy starts (their last periods breached; they stay so while the metric does). */
    readonly firing?: readonly HerdAlarmId[];
  };
  /** Releases whose artifact is missing from the artifacts bucket (every other one is there). */
  readonly missingArtifacts?: readonly string[];
  /** Requests a minute the site receives (default 600). */
  readonly requestsPerMinute?: number;
  /**
   * Eventual consistency of what the API creates (`consistency.ts`). Default: on, lags of 0
   * to 4 seconds from seed 7, as every scenario and plan runs; `{ maxLagSeconds: 0 }` turns it off.
   */
  readonly consistency?: { readonly maxLagSeconds: number; readonly minLagSeconds?: number; readonly seed?: number };
  /** Two consecutive reads may straddle a builder's or runner's report and power-off. Default: on. */
  readonly races?: boolean;
  /** Auto Scaling processes suspended on a group before the deploy (by an operator, or a tool). */
  readonly suspended?: { readonly web?: readonly string[]; readonly worker?: readonly string[] };
  /** An instance refresh herd did not start is running on this group when the deploy starts. */
  readonly foreignRefresh?: 'web' | 'worker';
  /** Private subnets (by index in `instances.subnetIds`) whose zone has no capacity. */
  readonly noCapacity?: readonly number[];
  /** Releases run by instances outside the environment's groups (e.g. another environment it was promoted to). */
  readonly foreignInstances?: readonly string[];
  /**
   * Other environments of the app (`DeployEnvironment.peerEnvironments`), each with a web
   * group and launch template tagged with it, and its release parameters.
   */
  readonly peers?: readonly PeerSpec[];
}

/** Another environment of the same app, in the same account and region. */
export interface PeerSpec {
  readonly env: string;
  /**
   * Release it serves: its launch template's version 1 and its current-image parameter
   * name that release's image (one of `baked`, or the serving one: promoted from this
   * environment); `none`: the image parameter holds the base image.
   */
  readonly serving: string;
  /** Web instances running it (default 0: scaled to zero). */
  readonly web?: number;
}

export interface FleetCapacity {
  readonly min: number;
  readonly max: number;
}

export interface World {
  readonly cloud: FakeCloud;
  readonly clock: VirtualClock;
  readonly env: DeployEnvironment;
  /** Image id of each release baked at the start. */
  readonly images: Readonly<Record<string, string>>;
  /** The builders' base image (what current-image holds before the first release). */
  readonly baseImage: string;
  /** Each run of the role keeper, with what the environment was like then. */
  readonly keeperRuns: readonly KeeperRun[];
  /** herd's base images seeded (layered bake): the current one, the outdated one, when there. */
  readonly bases: { readonly current?: string; readonly outdated?: string };
}

/** One run of a world's role keeper (`WorldSpec.roleKeeper`). */
export interface KeeperRun {
  /** Virtual time (epoch ms). */
  readonly at: number;
  /** Migration runners (`herd:role` release) that had reported by then. */
  readonly migrationsReported: number;
  /** Migration runners not terminated then (`shutting-down` counts as gone). */
  readonly runnersLeft: number;
  /** Releases of the web and worker instances in service then (distinct, sorted). */
  readonly serving: readonly string[];
  /** Whether it failed (`roleKeeper: fails`). */
  readonly failed: boolean;
}

export const DEFAULT_SIMULATED_DEPLOY: DeployConfig = {
  strategy: 'rolling',
  migrationOrder: 'before',
  backup: 'none',
  backupRetention: 3,
  rolling: { minHealthyPercentage: 100, maxHealthyPercentage: 150, instanceWarmupSeconds: 30, checkpointPercentages: [], checkpointDelaySeconds: 0, parallelRoles: true },
  holdMaintenanceMinutes: 0,
  alarmWatchMinutes: 0,
  maxFailedInstances: 3,
  timeouts: { bakeMinutes: 20, imageMinutes: 30, migrateMinutes: 15, rolloutMinutes: 30 },
  builderInstanceType: 't3.small',
  maxArtifactMiB: 500,
};

/** The longest a created thing stays invisible in a world (seconds): eventual consistency is on by default. */
export const DEFAULT_CONSISTENCY_LAG_SECONDS = 4;

/** The account and region every simulated world lives in. */
export const SIMULATED_ACCOUNT = '123456789012';
export const SIMULATED_REGION = 'eu-west-1';
const ACCOUNT = SIMULATED_ACCOUNT;
const REGION = SIMULATED_REGION;

export function createWorld(spec: WorldSpec): World {
  const app = spec.app ?? 'shop';
  const envName = spec.env ?? 'staging';
  const clock = new VirtualClock();
  const tableName = `herd-${envName}-deploys`;
  const instanceType = spec.instanceType ?? 't3.small';
  const architecture = architectureOf(instanceType);
  const cloud = new FakeCloud({
    app,
    env: envName,
    clock,
    timings: spec.timings ?? {},
    releases: spec.releases ?? {},
    tableName,
    architecture,
    ...(spec.requestsPerMinute !== undefined ? { requestsPerMinute: spec.requestsPerMinute } : {}),
    consistency: { maxLagSeconds: spec.consistency?.maxLagSeconds ?? DEFAULT_CONSISTENCY_LAG_SECONDS, ...(spec.consistency?.minLagSeconds !== undefined ? { minLagSeconds: spec.consistency.minLagSeconds } : {}), seed: spec.consistency?.seed ?? 7 },
  });
  cloud.races = spec.races ?? true;
  const baseImage = cloud.addBaseImage();

  const fresh = spec.serving === NO_RELEASE;
  const images: Record<string, string> = {};
  const releases = [...(spec.baked ?? []).filter((r) => r !== spec.serving), ...(fresh ? [] : [spec.serving])];
  releases.forEach((release, n) => {
    const createdAt = clock.now() - (releases.length - n) * 86_400_000;
    images[release] = cloud.addImage(
      release,
      { [TAGS.app]: app, [TAGS.environment]: envName, [TAGS.release]: release, [TAGS.deploy]: `seed-${n}`, [TAGS.processes]: 'web worker release' },
      'available',
      createdAt,
    );
  });
  for (const [n, a] of (spec.abandonedImages ?? []).entries()) {
    // Stuck: EC2 never finishes them.
    cloud.releases[a.release] = { ...cloud.releases[a.release], imageNeverAvailable: true };
    images[a.release] = cloud.addImage(
      a.release,
      { [TAGS.app]: app, [TAGS.environment]: envName, [TAGS.release]: a.release, [TAGS.deploy]: `dead-bake-${n}` },
      a.state,
      clock.now() - a.ageMinutes * 60_000,
    );
  }
  const names = parameterNames(app, envName);
  // The stack's launch templates hold the image CloudFormation resolved from current-image:
  // the base image before the first release.
  const servingImage = fresh ? baseImage : (images[spec.serving] ?? '');

  const lbArn = `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}`;
  const listenerArn = `${lbArn}:listener/app/herd-${envName}/0123456789abcdef/fedcba9876543210`;
  const targetGroupArn = `${lbArn}:targetgroup/herd-${envName}-web/0123456789abcdef`;
  // The staging group of a `full` deploy's new fleet, and the stack's rule that makes ELB health-check it.
  const stagingTargetGroupArn = `${lbArn}:targetgroup/herd-${envName}-web-next/fedcba9876543210`;
  cloud.addTargetGroup(targetGroupArn);
  cloud.addTargetGroup(stagingTargetGroupArn);
  cloud.addListener(listenerArn, targetGroupArn);
  const stagingRuleArn = `${listenerArn.replace(':listener/', ':listener-rule/')}/00000000000stage`;
  cloud.listeners.get(listenerArn)?.push({
    arn: stagingRuleArn,
    priority: STAGING_PRIORITY,
    conditions: [{ Field: 'source-ip', SourceIpConfig: { Values: [STAGING_SOURCE_CIDR] } }],
    actions: [{ Type: 'forward', TargetGroupArn: stagingTargetGroupArn }],
    tags: {},
  });

  /** Instance profile ARN of one role of an environment (placeholders: the stack's names are generated). */
  const profileOf = (env: string, role: string) => `arn:aws:iam::${ACCOUNT}:instance-profile/herd-${env}-${role}`;
  const bootData = (role: string) => `#!/bin/bash\nexec /opt/herd/bin/herd-boot --app ${app} --env ${envName} --role ${role}\n`;
  /** The group as found, and the capacity the configuration asks for. */
  const sizes = (desired: number, defaultMax: number, configured: FleetCapacity | undefined) => {
    const group = fresh
      ? { min: 0, max: configured?.max ?? defaultMax, desired: 0 }
      : { min: Math.min(1, desired), max: defaultMax, desired };
    return { group, configured: configured ?? { min: fresh ? 1 : group.min, max: group.max } };
  };
  const web = sizes(fresh ? 0 : spec.web, Math.max(spec.web * 2, 4), spec.capacity?.web);
  const webLt = cloud.addLaunchTemplate(servingImage, bootData('web'), instanceType, { instanceProfileArn: profileOf(envName, 'web') });
  cloud.addGroup({ name: `herd-${envName}-web`, role: 'web', ltId: webLt, ...web.group, targetGroupArn });
  let workerLt: string | undefined;
  const worker = spec.worker !== undefined ? sizes(fresh ? 0 : spec.worker, Math.max(spec.worker * 2, 2), spec.capacity?.worker) : undefined;
  if (worker) {
    workerLt = cloud.addLaunchTemplate(servingImage, bootData('worker'), instanceType, { instanceProfileArn: profileOf(envName, 'worker') });
    cloud.addGroup({ name: `herd-${envName}-worker`, role: 'worker', ltId: workerLt, ...worker.group });
  }

  cloud.parameters.set(names.currentImage, servingImage);
  cloud.parameters.set(names.currentRelease, spec.serving);
  cloud.stacks.set(stackName(envName), { status: 'UPDATE_COMPLETE' });
  // The stack's Notifications topic: deploys publish their start and outcome there.
  const notificationTopicArn = `arn:aws:sns:${REGION}:${ACCOUNT}:herd-${envName}-notifications`;
  cloud.topics.add(notificationTopicArn);
  const thresholds: AlarmConfig = { ...profileDefaults('small', app).alarms, ...spec.alarms?.thresholds };
  const alarmName = (id: HerdAlarmId) => `herd-${envName}-${id.toLowerCase()}`;
  for (const id of HERD_ALARM_IDS) cloud.addAlarm(alarmName(id), { shape: HERD_ALARMS[id], threshold: HERD_ALARMS[id].threshold(thresholds), targetGroupArn });
  const rollsBack = spec.alarms?.rollsBack ?? HERD_ALARM_IDS.filter((id) => HERD_ALARMS[id].rollsBack);
  for (const id of spec.alarms?.firing ?? []) {
    const alarm = cloud.alarms.get(alarmName(id))!;
    const breaching = HERD_ALARMS[id].threshold(thresholds) + 1;
    alarm.datapoints.push(...Array.from({ length: HERD_ALARMS[id].evaluationPeriods }, () => breaching));
    alarm.state = 'ALARM';
    alarm.history.push({ at: clock.now(), state: 'ALARM', reason: `seeded: ${HERD_ALARMS[id].evaluationPeriods} breaching periods before the deploy` });
  }
  const dbId = `herd-${envName}-db`;
  const keeperArn = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:herd-${envName}-role-keeper`;
  const keeper = spec.database ? (spec.roleKeeper ?? 'keeps') : 'absent';
  const keeperRuns: KeeperRun[] = [];
  if (keeper !== 'absent') {
    cloud.addFunction(keeperArn, () => {
      const runners = [...cloud.instances.values()].filter((i) => i.tags[TAGS.role] === 'release' && i.tags[TAGS.environment] === envName);
      const migrationsReported = runners.filter((i) => i.reported).length;
      const runnersLeft = runners.filter((i) => i.state !== 'shutting-down' && i.state !== 'terminated').length;
      const serving = new Set<string>();
      for (const g of cloud.groups.values()) {
        if (g.tags[TAGS.environment] !== envName) continue;
        for (const m of g.instances) {
          const instance = cloud.instances.get(m.id);
          const release = instance && m.lifecycle === 'InService' ? releaseOfInstance(cloud, instance) : undefined;
          if (release) serving.add(release);
        }
      }
      keeperRuns.push({ at: cloud.now(), migrationsReported, runnersLeft, serving: [...serving].sort(), failed: keeper === 'fails' });
      // As PostgreSQL answers a grant the master may not make; pg names its errors `error`.
      if (keeper === 'fails') throw Object.assign(new Error('permission denied for schema billing'), { name: 'error' });
      return { user: `${app}_app` };
    });
  }
  if (spec.database) {
    cloud.dbInstances.add(dbId);
    // Backed up automatically for about a day already (its first backup ended 2 minutes past a
    // log upload's minute, so the latest restorable time trails the start by 3 minutes).
    cloud.dbAutomatedBackups.set(dbId, { retentionDays: spec.databaseBackupRetentionDays ?? 7, since: clock.now() - 86_400_000 + 120_000 });
    if (spec.snapshotQuota !== undefined) cloud.manualSnapshotQuota = spec.snapshotQuota;
    if (spec.databaseBusy) cloud.dbBusy.set(dbId, { status: spec.databaseBusy.status, until: clock.now() + spec.databaseBusy.seconds * 1000 });
    for (const [n, days] of (spec.backups ?? []).entries()) {
      const id = `herd-${envName}-seed-${n}`;
      cloud.dbSnapshots.set(id, {
        id,
        instance: dbId,
        createdAt: clock.now() - days * 86_400_000,
        status: 'available',
        tags: { [TAGS.app]: app, [TAGS.environment]: envName, [TAGS.role]: 'backup', [TAGS.deploy]: `seed-${n}` },
      });
    }
  }

  const d = spec.deploy ?? {};
  const deploy: DeployConfig = {
    ...DEFAULT_SIMULATED_DEPLOY,
    ...(architecture === 'arm64' ? { builderInstanceType: 't4g.small' } : {}),
    ...d,
    rolling: { ...DEFAULT_SIMULATED_DEPLOY.rolling, ...d.rolling },
    timeouts: { ...DEFAULT_SIMULATED_DEPLOY.timeouts, ...d.timeouts },
  };
  const env: DeployEnvironment = {
    app,
    env: envName,
    stackName: stackName(envName),
    tableName,
    fleets: {
      web: { autoScalingGroupName: `herd-${envName}-web`, launchTemplateId: webLt, minCapacity: web.configured.min, maxCapacity: web.configured.max },
      ...(workerLt && worker
        ? { worker: { autoScalingGroupName: `herd-${envName}-worker`, launchTemplateId: workerLt, minCapacity: worker.configured.min, maxCapacity: worker.configured.max } }
        : {}),
    },
    loadBalancer: { listenerArn, targetGroupArn, stagingTargetGroupArn, stagingRuleArn, stagingGraceSeconds: cloud.timings.healthCheckGracePeriodSeconds, maintenancePriority: 10 },
    instances: {
      // As the stack says: EC2 resolves the public AL2023 parameter of the architecture at launch.
      builderImageId: `resolve:ssm:${amazonLinuxImageParameter(architectureOf(deploy.builderInstanceType))}`,
      builderInstanceProfileArn: profileOf(envName, 'builder'),
      runnerInstanceProfileArn: profileOf(envName, 'runner'),
      subnetIds: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'],
      builderSecurityGroupIds: ['sg-0a1b2c3d4e5f60001'],
      builderVolumeGiB: 20,
      ...(spec.ebsKmsKeyArn ? { ebsKmsKeyArn: spec.ebsKmsKeyArn } : {}),
      scripts: { bucket: `cdk-hnb659fds-assets-${ACCOUNT}-${REGION}`, key: '0f3c1d2e4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0.zip' },
    },
    artifacts: { bucket: `herd-${envName}-artifacts`, artifactPrefix: 'releases/' },
    ...(spec.database ? { database: { instanceIdentifier: dbId, ...(keeper !== 'absent' ? { roleKeeperFunctionArn: keeperArn } : {}) } } : {}),
    alarmNames: rollsBack.map(alarmName),
    notificationTopicArn,
    deploy,
    amiRetention: spec.amiRetention ?? 3,
    peerEnvironments: (spec.peers ?? []).map((p) => p.env),
  };

  // herd's base images, and the release images baked on them.
  const bases: { current?: string; outdated?: string } = {};
  const seedBase = (source: string, n: number): string => {
    const parts = { sourceImageId: source, architecture: architectureOf(deploy.builderInstanceType), provision: provisionHash({ provision: DEFAULT_PROVISION }), scripts: env.instances.scripts.key };
    const key = baseKey(parts);
    return cloud.addImage(
      '',
      {
        [TAGS.app]: app, [TAGS.environment]: envName, [TAGS.deploy]: `seed-base-${n}`, [TAGS.role]: 'base', [TAGS.base]: key,
        [TAGS.baseSource]: source, [TAGS.provision]: parts.provision, [TAGS.scripts]: parts.scripts,
      },
      'available',
      clock.now() - (30 - n) * 86_400_000,
      architecture,
      // Ids of their own: the ids of everything else stay as they were before layered bakes (scenarios name them).
      { image: `ami-0ba5e${String(n).padStart(12, '0')}`, snapshot: `snap-0ba5e${String(n).padStart(12, '0')}` },
    );
  };
  if (spec.outdatedBase?.length) {
    const old = cloud.addBaseImage(architecture, { current: false });
    bases.outdated = seedBase(old, 0);
  }
  if ((spec.base ?? 'current') === 'current') bases.current = seedBase(baseImage, 1);
  for (const [release, id] of Object.entries(images)) {
    const on = spec.outdatedBase?.includes(release) ? bases.outdated : bases.current;
    const image = cloud.images.get(id);
    if (on && image && !(spec.abandonedImages ?? []).some((a) => a.release === release)) image.tags = { ...image.tags, [TAGS.baseImage]: on };
  }

  for (const release of spec.missingArtifacts ?? []) cloud.missingArtifacts.add(`${env.artifacts.artifactPrefix}${release}.tar.gz`);
  for (const n of spec.noCapacity ?? []) {
    const subnet = env.instances.subnetIds[n];
    if (!subnet) throw new Error(`world: no private subnet ${n}`);
    cloud.noCapacity.add(subnet);
  }

  for (const [n, role] of (spec.leftovers ?? []).entries()) {
    cloud.newInstance({
      imageId: role === 'builder' ? baseImage : (images[spec.serving] ?? baseImage),
      instanceType,
      tags: { [TAGS.app]: app, [TAGS.environment]: envName, [TAGS.role]: role, [TAGS.deploy]: `dead-deploy-${n}`, [TAGS.release]: 'r0' },
      userData: '',
      shutdownBehavior: role === 'builder' ? 'stop' : 'terminate',
      instanceProfileArn: role === 'builder' ? profileOf(envName, 'builder') : profileOf(envName, 'runner'),
      state: role === 'builder' ? 'stopped' : 'running',
      reported: true,
    });
  }

  for (const peer of spec.peers ?? []) {
    if (peer.env === envName) throw new Error(`world: peer ${peer.env} is the environment itself`);
    const peerNames = parameterNames(app, peer.env);
    const none = peer.serving === NO_RELEASE;
    const image = none ? baseImage : images[peer.serving];
    if (!image) throw new Error(`world: peer ${peer.env} serves ${peer.serving}, which is not baked`);
    const lt = cloud.addLaunchTemplate(image, `#!/bin/bash\nexec /opt/herd/bin/herd-boot --app ${app} --env ${peer.env} --role web\n`, 't3.small', { env: peer.env, instanceProfileArn: profileOf(peer.env, 'web') });
    const web = peer.web ?? 0;
    cloud.addGroup({ name: `herd-${peer.env}-web`, role: 'web', ltId: lt, desired: web, min: 0, max: Math.max(web * 2, 4), env: peer.env });
    cloud.parameters.set(peerNames.currentImage, image);
    cloud.parameters.set(peerNames.currentRelease, peer.serving);
  }

  for (const release of spec.foreignInstances ?? []) {
    cloud.newInstance({ imageId: images[release] ?? '', instanceType: 't3.small', tags: { [TAGS.app]: app, [TAGS.environment]: 'production' }, userData: '', shutdownBehavior: 'stop', state: 'running' });
  }

  if (spec.maintenanceOn) {
    const rules = cloud.listeners.get(listenerArn);
    rules?.push({
      arn: `${listenerArn.replace(':listener/', ':listener-rule/')}/0000000000manual`,
      priority: env.loadBalancer.maintenancePriority,
      conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/*'] } }],
      actions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '503', ContentType: 'text/html', MessageBody: maintenancePageHtml(app) } }],
      tags: { [TAGS.app]: app, [TAGS.environment]: envName, [TAGS.deploy]: MANUAL_OWNER },
    });
  }
  // What an operator (or another tool) did to the groups before the deploy.
  for (const [role, processes] of Object.entries(spec.suspended ?? {})) {
    const group = cloud.groups.get(`herd-${envName}-${role}`);
    if (!group) throw new Error(`world: no ${role} group to suspend processes on`);
    for (const p of processes ?? []) group.suspended.add(p);
  }
  if (spec.foreignRefresh) {
    const group = cloud.groups.get(`herd-${envName}-${spec.foreignRefresh}`);
    if (!group) throw new Error(`world: no ${spec.foreignRefresh} group to refresh`);
    group.refreshes.push({
      id: `${cloud.nextId('', 8).slice(1)}-refresh-by-hand`,
      group: group.name,
      status: 'InProgress',
      desiredVersion: group.ltVersion,
      previousVersion: group.ltVersion,
      preferences: { MinHealthyPercentage: 90, InstanceWarmup: 300, SkipMatching: false },
      startTime: clock.now() - 60_000,
      percentage: 0,
      nextCheckpoint: 0,
      rollingBack: false,
      toUpdate: group.desired,
    });
  }
  return { cloud, clock, env, images, bases, baseImage, keeperRuns };
}
