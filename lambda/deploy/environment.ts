/**
 * What the deploy step knows about its environment: the resources it acts on and the
 * resolved deploy settings. The CDK stack writes it as JSON into the Lambda's
 * `DEPLOY_ENVIRONMENT` variable; `parseDeployEnvironment` validates it once per cold start.
 */
import type { BackupMode, DeployConfig, DeployStrategy, MigrationOrder } from '../../lib/config/types';
import { BACKUP_MODES, DEPLOY_STRATEGIES, MIGRATION_ORDERS } from '../../lib/config/types';

/** One role's fleet as the deploy step sees it. */
export interface FleetEnvironment {
  /** Physical name of the Auto Scaling group. */
  readonly autoScalingGroupName: string;
  /** Id (`lt-…`) of the role's launch template; the group must use a numbered version of it. */
  readonly launchTemplateId: string;
  /**
   * Configured floor once a release serves (the stack creates the group with MinSize 0).
   * A rollout that finds the group below it (first release, or floor raised since) scales
   * it to this; every successful rollout leaves MinSize at this value.
   */
  readonly minCapacity: number;
  /** Configured ceiling (the group's MaxSize). */
  readonly maxCapacity: number;
}

/** Default size of the builder's root volume; baked images inherit it (fleets' root volumes must be at least as large). */
export const DEFAULT_BUILDER_VOLUME_GIB = 20;

/** Everything the deploy step acts on in one environment. */
export interface DeployEnvironment {
  /** App name (names parameters and tags). */
  readonly app: string;
  /** Environment name. */
  readonly env: string;
  /**
   * The environment's CloudFormation stack: a deploy refuses to start while it is being
   * updated (an update may change launch templates and groups). Absent: not checked.
   */
  readonly stackName?: string;
  /** Deploy table: partition key `pk` (S), sort key `sk` (S). */
  readonly tableName: string;
  readonly fleets: {
    readonly web: FleetEnvironment;
    /** Absent when the environment has no worker fleet. */
    readonly worker?: FleetEnvironment;
  };
  readonly loadBalancer: {
    /** Listener that carries the maintenance rule (the HTTPS one, or HTTP without a certificate). */
    readonly listenerArn: string;
    /** Web target group: the web Auto Scaling group's, the listener's default action's at rest. */
    readonly targetGroupArn: string;
    /**
     * Web staging target group (`switch.ts`): a `full` deploy registers its new fleet here,
     * behind a rule no client matches, and switches the listener to it once migrated. Absent
     * (an environment description of an older version): a `full` deploy boots its new fleet
     * behind the page (`replace.*`).
     */
    readonly stagingTargetGroupArn?: string;
    /** The stack's staging rule (a source no client has), which keeps the group that serves nothing health-checked. */
    readonly stagingRuleArn?: string;
    /**
     * Seconds a new web instance may fail its health checks in the staging target group before
     * the deploy gives up on it (the fleet's health-check grace period). Default 300.
     */
    readonly stagingGraceSeconds?: number;
    /**
     * Priority reserved for the maintenance rule (fixed-response 503). The bypass rule
     * (header secret and/or CIDRs, forwarding to the target group) is permanent, created
     * by the stack at a smaller number, so it wins while the page is up.
     */
    readonly maintenancePriority: number;
  };
  /** How builders (bake) and runners (migrations) are launched. */
  readonly instances: {
    /** Base image of the builder: an AMI id or `resolve:ssm:/aws/service/ami-amazon-linux-latest/…`. */
    readonly builderImageId: string;
    /** Instance profile ARN of the builder (reads the artifact, writes its report). */
    readonly builderInstanceProfileArn: string;
    /**
     * Instance profile ARN of the migration runner (reads the environment, writes its report
     * under `release-runs/`). It replaces the web launch template's profile at launch: web
     * servers may not write a runner's report.
     */
    readonly runnerInstanceProfileArn: string;
    /** Private subnets builders and runners are launched into. */
    readonly subnetIds: readonly string[];
    /** Security groups of the builder (egress only). Runners use the web launch template's. */
    readonly builderSecurityGroupIds: readonly string[];
    /**
     * Size of the builder's encrypted gp3 root volume (`/dev/xvda`), hence of the image's
     * root snapshot: it must not exceed the fleets' root volume size.
     * @default 20 (`DEFAULT_BUILDER_VOLUME_GIB`)
     */
    readonly builderVolumeGiB?: number;
    /**
     * The `instance/` directory as a zip (a CDK S3 asset): the builder downloads it and
     * runs `herd-bake.sh` from it.
     */
    readonly scripts: {
      readonly bucket: string;
      readonly key: string;
    };
    /** Customer-managed KMS key of the builder's root volume (and so of the baked image). Absent: the account's default EBS key. */
    readonly ebsKmsKeyArn?: string;
  };
  /** Where release artifacts live: `s3://<bucket>/<artifactPrefix><release>.tar.gz` unless the deploy names a key. */
  readonly artifacts: {
    readonly bucket: string;
    readonly artifactPrefix: string;
  };
  /** The shared database, snapshotted before migrations when the config says so. */
  readonly database?: {
    readonly instanceIdentifier: string;
    /**
     * ARN of the role keeper (`lambda/role-keeper`), invoked after each migration so the app's
     * role can use what the migration created (`role-keeper.ts`). Absent: not invoked.
     */
    readonly roleKeeperFunctionArn?: string;
  };
  /**
   * CloudWatch alarms that roll an instance refresh back (names): only those a booting
   * instance cannot trip (the stack passes its 5xx alarm, not unhealthy hosts or latency).
   */
  readonly alarmNames: readonly string[];
  /**
   * ARN of the environment's notifications topic (the stack's `Notifications`, KMS-encrypted):
   * every deploy's start and outcome is published there (`notify.ts`), next to the alarms.
   */
  readonly notificationTopicArn: string;
  /** Resolved deploy settings (defaults applied). */
  readonly deploy: DeployConfig;
  /** Baked images kept besides those in use. */
  readonly amiRetention: number;
  /** Days the log groups a migration runner's log agent creates keep their logs (herd-boot --log-retention-days). Absent: herd-boot's default. */
  readonly logRetentionDays?: number;
  /**
   * The other environments of the same app (from the configuration; may be empty).
   * A release baked here may be promoted to one of them (bake reuses an image of the
   * same app and release from any environment): retention keeps every image a peer's
   * current-image parameter names, besides those of any launch template tagged with the app.
   */
  readonly peerEnvironments: readonly string[];
}

/** Thrown when the environment description is unusable; lists every problem. */
export class InvalidDeployEnvironmentError extends Error {
  override readonly name = 'InvalidDeployEnvironmentError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid deploy environment: ${problems.join('; ')}`);
  }
}

type Obj = Record<string, unknown>;

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class Checker {
  readonly problems: string[] = [];

  obj(value: unknown, path: string): Obj {
    if (isObj(value)) return value;
    this.problems.push(`${path} must be an object (received ${JSON.stringify(value)})`);
    return {};
  }

  str(o: Obj, key: string, path: string, pattern?: RegExp): void {
    const value = o[key];
    if (typeof value !== 'string' || value.length === 0) {
      this.problems.push(`${path}.${key} must be a non-empty string (received ${JSON.stringify(value)})`);
    } else if (pattern && !pattern.test(value)) {
      this.problems.push(`${path}.${key} must match ${pattern} (received ${JSON.stringify(value)})`);
    }
  }

  int(o: Obj, key: string, path: string, min: number, max: number): void {
    const value = o[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.problems.push(`${path}.${key} must be an integer from ${min} to ${max} (received ${JSON.stringify(value)})`);
    }
  }

  num(o: Obj, key: string, path: string, min: number, max: number): void {
    const value = o[key];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      this.problems.push(`${path}.${key} must be a number from ${min} to ${max} (received ${JSON.stringify(value)})`);
    }
  }

  bool(o: Obj, key: string, path: string): void {
    if (typeof o[key] !== 'boolean') this.problems.push(`${path}.${key} must be a boolean (received ${JSON.stringify(o[key])})`);
  }

  strList(o: Obj, key: string, path: string, minItems: number): void {
    const value = o[key];
    if (!Array.isArray(value) || value.length < minItems || !value.every((v) => typeof v === 'string' && v.length > 0)) {
      this.problems.push(`${path}.${key} must be a list of at least ${minItems} non-empty strings (received ${JSON.stringify(value)})`);
    }
  }

  oneOf<T extends string>(o: Obj, key: string, path: string, allowed: readonly T[]): void {
    const value = o[key];
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      this.problems.push(`${path}.${key} must be one of ${allowed.join(', ')} (received ${JSON.stringify(value)})`);
    }
  }
}

function checkFleet(c: Checker, value: unknown, path: string): void {
  const f = c.obj(value, path);
  c.str(f, 'autoScalingGroupName', path);
  c.str(f, 'launchTemplateId', path, /^lt-[0-9a-f]+$/);
  c.int(f, 'minCapacity', path, 0, 500);
  c.int(f, 'maxCapacity', path, 1, 500);
  const { minCapacity: min, maxCapacity: max } = f;
  if (typeof min === 'number' && typeof max === 'number' && min > max) {
    c.problems.push(`${path}.minCapacity (${min}) must be <= maxCapacity (${max})`);
  }
}

/** Checks a resolved `DeployConfig`; reports into `c`. */
function checkDeployConfig(c: Checker, value: unknown, path: string): void {
  const d = c.obj(value, path);
  c.oneOf<DeployStrategy>(d, 'strategy', path, DEPLOY_STRATEGIES);
  c.oneOf<MigrationOrder>(d, 'migrationOrder', path, MIGRATION_ORDERS);
  c.oneOf<BackupMode>(d, 'backup', path, BACKUP_MODES);
  if (d.backupRetention !== undefined) c.int(d, 'backupRetention', path, 1, 50);
  c.num(d, 'holdMaintenanceMinutes', path, 0, 24 * 60);
  c.num(d, 'alarmWatchMinutes', path, 0, 24 * 60);
  c.int(d, 'maxFailedInstances', path, 1, 50);
  c.str(d, 'builderInstanceType', path);
  const r = c.obj(d.rolling, `${path}.rolling`);
  c.num(r, 'minHealthyPercentage', `${path}.rolling`, 0, 100);
  c.num(r, 'maxHealthyPercentage', `${path}.rolling`, 100, 200);
  c.num(r, 'instanceWarmupSeconds', `${path}.rolling`, 0, 3600);
  c.num(r, 'checkpointDelaySeconds', `${path}.rolling`, 0, 172800);
  c.bool(r, 'parallelRoles', `${path}.rolling`);
  const cp = r.checkpointPercentages;
  if (!Array.isArray(cp) || !cp.every((p, i) => typeof p === 'number' && p >= 1 && p <= 100 && (i === 0 || p > (cp[i - 1] as number)))) {
    c.problems.push(`${path}.rolling.checkpointPercentages must be increasing numbers from 1 to 100 (received ${JSON.stringify(cp)})`);
  }
  const t = c.obj(d.timeouts, `${path}.timeouts`);
  for (const key of ['bakeMinutes', 'imageMinutes', 'migrateMinutes', 'rolloutMinutes']) c.num(t, key, `${path}.timeouts`, 1, 12 * 60);
}

const ENV_NAME = /^[a-z0-9-]+$/;
/** An unqualified function ARN (names: 1–64 letters, digits, `-`, `_`). */
const LAMBDA_FUNCTION_ARN = /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}$/;
/** A standard or FIFO topic's ARN (topic names: 1–256 letters, digits, `-`, `_`). */
const SNS_TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/;

/** `peerEnvironments`: distinct environment names, this one excluded. */
function checkPeers(c: Checker, e: Obj): void {
  const peers = e.peerEnvironments;
  if (!Array.isArray(peers) || !peers.every((p) => typeof p === 'string' && ENV_NAME.test(p))) {
    c.problems.push(`environment.peerEnvironments must be a list of environment names matching ${ENV_NAME} (received ${JSON.stringify(peers)})`);
    return;
  }
  if (new Set(peers).size !== peers.length) c.problems.push(`environment.peerEnvironments must not repeat a name (received ${JSON.stringify(peers)})`);
  if (typeof e.env === 'string' && peers.includes(e.env)) c.problems.push(`environment.peerEnvironments must not name the environment itself (${JSON.stringify(e.env)})`);
}

/** Type guard for `DeployEnvironment`; `problems` receives what is wrong. */
export function isDeployEnvironment(value: unknown, problems: string[] = []): value is DeployEnvironment {
  const c = new Checker();
  const e = c.obj(value, 'environment');
  c.str(e, 'app', 'environment', ENV_NAME);
  c.str(e, 'env', 'environment', ENV_NAME);
  c.str(e, 'tableName', 'environment');
  if (e.stackName !== undefined) c.str(e, 'stackName', 'environment', /^[A-Za-z][A-Za-z0-9-]{0,127}$/);
  const fleets = c.obj(e.fleets, 'environment.fleets');
  checkFleet(c, fleets.web, 'environment.fleets.web');
  if (fleets.worker !== undefined) checkFleet(c, fleets.worker, 'environment.fleets.worker');
  const lb = c.obj(e.loadBalancer, 'environment.loadBalancer');
  c.str(lb, 'listenerArn', 'environment.loadBalancer', /^arn:aws[a-z-]*:elasticloadbalancing:/);
  c.str(lb, 'targetGroupArn', 'environment.loadBalancer', /^arn:aws[a-z-]*:elasticloadbalancing:/);
  if (lb.stagingTargetGroupArn !== undefined) c.str(lb, 'stagingTargetGroupArn', 'environment.loadBalancer', /^arn:aws[a-z-]*:elasticloadbalancing:/);
  if (lb.stagingRuleArn !== undefined) c.str(lb, 'stagingRuleArn', 'environment.loadBalancer', /^arn:aws[a-z-]*:elasticloadbalancing:/);
  if (lb.stagingGraceSeconds !== undefined) c.int(lb, 'stagingGraceSeconds', 'environment.loadBalancer', 0, 7200);
  c.num(lb, 'maintenancePriority', 'environment.loadBalancer', 1, 50000);
  const i = c.obj(e.instances, 'environment.instances');
  c.str(i, 'builderImageId', 'environment.instances', /^(ami-[0-9a-f]+|resolve:ssm:.+)$/);
  c.str(i, 'builderInstanceProfileArn', 'environment.instances', /^arn:aws[a-z-]*:iam::/);
  c.str(i, 'runnerInstanceProfileArn', 'environment.instances', /^arn:aws[a-z-]*:iam::/);
  c.strList(i, 'subnetIds', 'environment.instances', 1);
  c.strList(i, 'builderSecurityGroupIds', 'environment.instances', 1);
  if (i.builderVolumeGiB !== undefined) c.int(i, 'builderVolumeGiB', 'environment.instances', 8, 16384);
  if (i.ebsKmsKeyArn !== undefined) c.str(i, 'ebsKmsKeyArn', 'environment.instances', /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/.+$/);
  const scripts = c.obj(i.scripts, 'environment.instances.scripts');
  c.str(scripts, 'bucket', 'environment.instances.scripts');
  c.str(scripts, 'key', 'environment.instances.scripts', /^[^/].*\.zip$/);
  const a = c.obj(e.artifacts, 'environment.artifacts');
  c.str(a, 'bucket', 'environment.artifacts');
  if (typeof a.artifactPrefix !== 'string') c.problems.push(`environment.artifacts.artifactPrefix must be a string (received ${JSON.stringify(a.artifactPrefix)})`);
  if (e.database !== undefined) {
    const db = c.obj(e.database, 'environment.database');
    c.str(db, 'instanceIdentifier', 'environment.database');
    if (db.roleKeeperFunctionArn !== undefined) c.str(db, 'roleKeeperFunctionArn', 'environment.database', LAMBDA_FUNCTION_ARN);
  }
  c.strList(e, 'alarmNames', 'environment', 0);
  c.str(e, 'notificationTopicArn', 'environment', SNS_TOPIC_ARN);
  checkDeployConfig(c, e.deploy, 'environment.deploy');
  c.num(e, 'amiRetention', 'environment', 1, 100);
  if (e.logRetentionDays !== undefined) c.int(e, 'logRetentionDays', 'environment', 1, 3653);
  checkPeers(c, e);
  problems.push(...c.problems);
  return c.problems.length === 0;
}

/** Parses and validates the JSON the stack puts in `DEPLOY_ENVIRONMENT`. */
export function parseDeployEnvironment(json: string | undefined): DeployEnvironment {
  if (json === undefined || json === '') throw new InvalidDeployEnvironmentError(['DEPLOY_ENVIRONMENT is not set']);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new InvalidDeployEnvironmentError([`DEPLOY_ENVIRONMENT is not JSON (${(err as Error).message})`]);
  }
  const problems: string[] = [];
  if (!isDeployEnvironment(value, problems)) throw new InvalidDeployEnvironmentError(problems);
  return value;
}
