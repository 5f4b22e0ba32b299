/**
 * The single place the wire tests build a `DeployEnvironment`, deploy states and an
 * `AdvanceContext`. If the shape of `DeployEnvironment` changes, change it here only:
 * `deployEnvironment` validates what it builds with the Lambda's own `isDeployEnvironment`,
 * so a fixture that drifts from the real shape fails loudly.
 */
import { startDeploy } from '../../lambda/deploy/advance';
import type { Clock, DeployClients } from '../../lambda/deploy/clients';
import { isDeployEnvironment, type DeployEnvironment } from '../../lambda/deploy/environment';
import type { DeployInput, DeployState } from '../../lambda/deploy/state';
import type { AdvanceContext, Step } from '../../lambda/deploy/step';
import type { DeployConfig } from '../../lib/config/types';
import { MOTO_ACCOUNT, MOTO_REGION } from '../support/moto';

export const WIRE_APP = 'shop';
export const WIRE_ENV = 'staging';

/** Deploy settings of the fixture (the `small` profile's defaults, shorter timeouts). */
export const WIRE_DEPLOY: DeployConfig = {
  strategy: 'rolling',
  migrationOrder: 'before',
  backup: 'snapshot-wait',
  backupRetention: 3,
  rolling: { minHealthyPercentage: 100, maxHealthyPercentage: 200, instanceWarmupSeconds: 60, checkpointPercentages: [], checkpointDelaySeconds: 0, parallelRoles: true },
  holdMaintenanceMinutes: 0,
  alarmWatchMinutes: 0,
  maxFailedInstances: 3,
  timeouts: { bakeMinutes: 20, imageMinutes: 30, migrateMinutes: 15, rolloutMinutes: 30 },
  builderInstanceType: 't3.small',
  maxArtifactMiB: 500,
};

/** AWS resources (created in moto) the environment names; placeholders for those a test does not need. */
export interface WireResources {
  readonly tableName?: string;
  readonly webGroupName?: string;
  readonly webLaunchTemplateId?: string;
  readonly workerGroupName?: string;
  readonly workerLaunchTemplateId?: string;
  /** Configured floor and ceiling of each fleet (default web 1–2, worker 1–1). */
  readonly webCapacity?: { readonly min: number; readonly max: number };
  readonly workerCapacity?: { readonly min: number; readonly max: number };
  readonly builderVolumeGiB?: number;
  readonly listenerArn?: string;
  readonly targetGroupArn?: string;
  readonly maintenancePriority?: number;
  readonly builderImageId?: string;
  readonly builderInstanceProfileArn?: string;
  readonly runnerInstanceProfileArn?: string;
  readonly subnetIds?: readonly string[];
  readonly builderSecurityGroupIds?: readonly string[];
  readonly databaseIdentifier?: string;
  readonly alarmNames?: readonly string[];
  /** The environment's notifications topic (default: a placeholder ARN; create it in moto to publish). */
  readonly notificationTopicArn?: string;
  readonly amiRetention?: number;
  readonly deploy?: Partial<DeployConfig>;
  /** Other environments of the app (default none). */
  readonly peerEnvironments?: readonly string[];
}

const elbArn = (kind: string) => `arn:aws:elasticloadbalancing:${MOTO_REGION}:${MOTO_ACCOUNT}:${kind}`;

export function deployEnvironment(r: WireResources = {}): DeployEnvironment {
  const env: DeployEnvironment = {
    app: WIRE_APP,
    env: WIRE_ENV,
    tableName: r.tableName ?? `herd-${WIRE_ENV}-deploys`,
    fleets: {
      web: {
        autoScalingGroupName: r.webGroupName ?? `herd-${WIRE_ENV}-web`,
        launchTemplateId: r.webLaunchTemplateId ?? 'lt-0000000000000000a',
        minCapacity: r.webCapacity?.min ?? 1,
        maxCapacity: r.webCapacity?.max ?? 2,
      },
      ...(r.workerGroupName && r.workerLaunchTemplateId
        ? {
            worker: {
              autoScalingGroupName: r.workerGroupName,
              launchTemplateId: r.workerLaunchTemplateId,
              minCapacity: r.workerCapacity?.min ?? 1,
              maxCapacity: r.workerCapacity?.max ?? 1,
            },
          }
        : {}),
    },
    loadBalancer: {
      listenerArn: r.listenerArn ?? elbArn('listener/app/herd-staging/0000000000000000/0000000000000000'),
      targetGroupArn: r.targetGroupArn ?? elbArn('targetgroup/herd-staging-web/0000000000000000'),
      maintenancePriority: r.maintenancePriority ?? 10,
    },
    instances: {
      builderImageId: r.builderImageId ?? 'ami-0000000000000000a',
      builderInstanceProfileArn: r.builderInstanceProfileArn ?? `arn:aws:iam::${MOTO_ACCOUNT}:instance-profile/herd-${WIRE_ENV}-builder`,
      runnerInstanceProfileArn: r.runnerInstanceProfileArn ?? `arn:aws:iam::${MOTO_ACCOUNT}:instance-profile/herd-${WIRE_ENV}-runner`,
      subnetIds: [...(r.subnetIds ?? ['subnet-0000000000000000a'])],
      builderSecurityGroupIds: [...(r.builderSecurityGroupIds ?? ['sg-0000000000000000a'])],
      ...(r.builderVolumeGiB !== undefined ? { builderVolumeGiB: r.builderVolumeGiB } : {}),
      scripts: { bucket: `herd-${WIRE_ENV}-assets`, key: 'assets/herd-instance.zip' },
    },
    artifacts: { bucket: `herd-${WIRE_ENV}-artifacts`, artifactPrefix: 'releases/' },
    ...(r.databaseIdentifier ? { database: { instanceIdentifier: r.databaseIdentifier } } : {}),
    alarmNames: [...(r.alarmNames ?? [])],
    notificationTopicArn: r.notificationTopicArn ?? `arn:aws:sns:${MOTO_REGION}:${MOTO_ACCOUNT}:herd-${WIRE_ENV}-notifications`,
    deploy: {
      ...WIRE_DEPLOY,
      ...r.deploy,
      rolling: { ...WIRE_DEPLOY.rolling, ...r.deploy?.rolling },
      timeouts: { ...WIRE_DEPLOY.timeouts, ...r.deploy?.timeouts },
    },
    amiRetention: r.amiRetention ?? 3,
    peerEnvironments: [...(r.peerEnvironments ?? [])],
  };
  const problems: string[] = [];
  if (!isDeployEnvironment(env, problems)) throw new Error(`wire fixture is not a valid DeployEnvironment: ${problems.join('; ')}`);
  return env;
}

/** A clock the test moves by hand (no timed assertions). */
export class ManualClock implements Clock {
  constructor(private ms = Date.parse('2026-11-05T10:00:00.000Z')) {}
  now(): number {
    return this.ms;
  }
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

export function advanceContext(clients: DeployClients, env: DeployEnvironment, clock: Clock = new ManualClock()): AdvanceContext {
  return { clients, env, clock };
}

/** The first state of a deploy, built by the Lambda's own `startDeploy`. */
export function deployState(ctx: AdvanceContext, input: Partial<DeployInput> & { deployId: string }): DeployState {
  return startDeploy({ release: 'r2', actor: 'alice', ...input }, ctx.env, ctx.clock);
}

/** One step of the deploy state machine, by name, from one of the lambda's step tables. */
export function stepOf(steps: Record<string, Step>, name: string): Step {
  const s = steps[name];
  if (!s) throw new Error(`no deploy step ${name}`);
  return s;
}
