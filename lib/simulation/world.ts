/**
 * A simulated environment: the fake cloud seeded with a serving release, and the
 * `DeployEnvironment` the deploy step would receive for it. `herd plan` builds one from
 * the real configuration to predict a deploy.
 */
import type { DeployConfig, DeployTimeouts, RollingConfig } from '../config/types';
import type { DeployEnvironment } from '../../lambda/deploy/environment';
import { MANUAL_OWNER, maintenancePageHtml } from '../../lambda/deploy/maintenance';
import { TAGS, parameterNames } from '../names';
import { VirtualClock } from './clock';
import { FakeCloud, type FakeTimings, type ReleaseBehaviour } from './fake-cloud';

export interface WorldSpec {
  readonly app?: string;
  readonly env?: string;
  /** Desired web instances (all serving at the start). */
  readonly web: number;
  /** Desired worker instances; absent = no worker fleet. */
  readonly worker?: number;
  readonly deploy?: Partial<Omit<DeployConfig, 'rolling' | 'timeouts'>> & {
    readonly rolling?: Partial<RollingConfig>;
    readonly timeouts?: Partial<DeployTimeouts>;
  };
  readonly timings?: Partial<FakeTimings>;
  readonly releases?: Readonly<Record<string, ReleaseBehaviour>>;
  /** Release serving at the start. */
  readonly serving: string;
  /** Older releases whose images exist, oldest first (the serving one is added). */
  readonly baked?: readonly string[];
  readonly amiRetention?: number;
  /** An operator's maintenance page is up before the deploy. */
  readonly maintenanceOn?: boolean;
  /** The environment has a database to snapshot. */
  readonly database?: boolean;
  readonly alarms?: readonly string[];
  /** Releases run by instances outside the environment's groups (e.g. another environment it was promoted to). */
  readonly foreignInstances?: readonly string[];
}

export interface World {
  readonly cloud: FakeCloud;
  readonly clock: VirtualClock;
  readonly env: DeployEnvironment;
  /** Image id of each release baked at the start. */
  readonly images: Readonly<Record<string, string>>;
}

export const DEFAULT_SIMULATED_DEPLOY: DeployConfig = {
  strategy: 'rolling',
  migrationOrder: 'before',
  backupBeforeMigrate: false,
  rolling: { minHealthyPercentage: 100, maxHealthyPercentage: 150, instanceWarmupSeconds: 30, checkpointPercentages: [], checkpointDelaySeconds: 0 },
  holdMaintenanceMinutes: 0,
  timeouts: { bakeMinutes: 20, imageMinutes: 30, migrateMinutes: 15, rolloutMinutes: 30 },
  builderInstanceType: 't3.small',
};

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';

export function createWorld(spec: WorldSpec): World {
  const app = spec.app ?? 'shop';
  const envName = spec.env ?? 'staging';
  const clock = new VirtualClock();
  const tableName = `herd-${envName}-deploys`;
  const cloud = new FakeCloud({ app, env: envName, clock, timings: spec.timings ?? {}, releases: spec.releases ?? {}, tableName });
  const baseImage = cloud.addBaseImage();

  const images: Record<string, string> = {};
  const releases = [...(spec.baked ?? []).filter((r) => r !== spec.serving), spec.serving];
  releases.forEach((release, n) => {
    const createdAt = clock.now() - (releases.length - n) * 86_400_000;
    images[release] = cloud.addImage(
      release,
      { [TAGS.app]: app, [TAGS.environment]: envName, [TAGS.release]: release, [TAGS.deploy]: `seed-${n}`, 'herd:processes': 'web worker release' },
      'available',
      createdAt,
    );
  });
  const servingImage = images[spec.serving] ?? '';

  const lbArn = `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}`;
  const listenerArn = `${lbArn}:listener/app/herd-${envName}/0123456789abcdef/fedcba9876543210`;
  const targetGroupArn = `${lbArn}:targetgroup/herd-${envName}-web/0123456789abcdef`;
  cloud.addListener(listenerArn);
  cloud.addTargetGroup(targetGroupArn);

  const webLt = cloud.addLaunchTemplate(servingImage, '#!/bin/bash\nexec /opt/herd/bin/herd-boot --role web\n');
  cloud.addGroup({ name: `herd-${envName}-web`, role: 'web', ltId: webLt, desired: spec.web, min: Math.min(1, spec.web), max: Math.max(spec.web * 2, 4), targetGroupArn });
  let workerLt: string | undefined;
  if (spec.worker !== undefined) {
    workerLt = cloud.addLaunchTemplate(servingImage, '#!/bin/bash\nexec /opt/herd/bin/herd-boot --role worker\n');
    cloud.addGroup({ name: `herd-${envName}-worker`, role: 'worker', ltId: workerLt, desired: spec.worker, min: Math.min(1, spec.worker), max: Math.max(spec.worker * 2, 2) });
  }

  const names = parameterNames(app, envName);
  cloud.parameters.set(names.currentImage, servingImage);
  cloud.parameters.set(names.currentRelease, spec.serving);
  for (const alarm of spec.alarms ?? []) cloud.alarms.set(alarm, 'OK');
  const dbId = `herd-${envName}-db`;
  if (spec.database) cloud.dbInstances.add(dbId);

  const d = spec.deploy ?? {};
  const deploy: DeployConfig = {
    ...DEFAULT_SIMULATED_DEPLOY,
    ...d,
    rolling: { ...DEFAULT_SIMULATED_DEPLOY.rolling, ...d.rolling },
    timeouts: { ...DEFAULT_SIMULATED_DEPLOY.timeouts, ...d.timeouts },
  };
  const env: DeployEnvironment = {
    app,
    env: envName,
    tableName,
    fleets: {
      web: { autoScalingGroupName: `herd-${envName}-web`, launchTemplateId: webLt },
      ...(workerLt ? { worker: { autoScalingGroupName: `herd-${envName}-worker`, launchTemplateId: workerLt } } : {}),
    },
    loadBalancer: { listenerArn, targetGroupArn, maintenancePriority: 10 },
    instances: {
      builderImageId: baseImage,
      builderInstanceProfileArn: `arn:aws:iam::${ACCOUNT}:instance-profile/herd-${envName}-builder`,
      subnetIds: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'],
      builderSecurityGroupIds: ['sg-0a1b2c3d4e5f60001'],
    },
    artifacts: { bucket: `herd-${envName}-artifacts`, artifactPrefix: 'releases/' },
    ...(spec.database ? { database: { instanceIdentifier: dbId } } : {}),
    alarmNames: [...(spec.alarms ?? [])],
    deploy,
    amiRetention: spec.amiRetention ?? 3,
  };

  for (const release of spec.foreignInstances ?? []) {
    cloud.newInstance({ imageId: images[release] ?? '', instanceType: 't3.small', tags: { [TAGS.app]: app, [TAGS.environment]: 'production' }, userData: '', shutdownBehavior: 'stop', state: 'running' });
  }

  if (spec.maintenanceOn) {
    const rules = cloud.listeners.get(listenerArn);
    rules?.push({
      arn: `${listenerArn}/rule/manual`,
      priority: env.loadBalancer.maintenancePriority,
      conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/*'] } }],
      actions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '503', ContentType: 'text/html', MessageBody: maintenancePageHtml(app) } }],
      tags: { [TAGS.deploy]: MANUAL_OWNER },
    });
  }
  return { cloud, clock, env, images };
}
