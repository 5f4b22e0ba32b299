/**
 * herd's environment configuration: what an operator writes (`*Settings`, every field
 * optional but the name) and what the stacks and the deploy step read once defaults are
 * applied (`Environment*`, every field present).
 *
 * Validation lives in `validate.ts`, defaults in `defaults.ts`.
 */

/** What a server does in an environment. `release` runs the Procfile's `release:` once per deploy. */
export type Role = 'web' | 'worker';

/** How a release replaces the running one. */
export type DeployStrategy = 'rolling' | 'full';

/**
 * When the Procfile's `release:` command (migrations) runs:
 * - `before`: once, before any web server changes (default);
 * - `after`: once, after the web fleet serves the new release;
 * - `maintenance`: inside the maintenance window of a `full` deploy;
 * - `none`: never (the deploy skips it even when the Procfile has one).
 */
export type MigrationOrder = 'before' | 'after' | 'maintenance' | 'none';

/** Which defaults apply: `small` is cheap (testing), `production` is safe. */
export type Profile = 'small' | 'production';

export const ROLES: readonly Role[] = ['web', 'worker'];
export const DEPLOY_STRATEGIES: readonly DeployStrategy[] = ['rolling', 'full'];
export const MIGRATION_ORDERS: readonly MigrationOrder[] = ['before', 'after', 'maintenance', 'none'];
export const PROFILES: readonly Profile[] = ['small', 'production'];

/** Network of one environment. */
export interface NetworkConfig {
  /** IPv4 CIDR of the VPC, /16 to /24. */
  readonly cidr: string;
  /** Availability zones used (>= 2). */
  readonly maxAzs: number;
  /** NAT gateways: 1 for a cheap environment, one per AZ for a resilient one. */
  readonly natGateways: number;
  /** Days VPC flow logs are kept. */
  readonly flowLogRetentionDays: number;
  /**
   * Interface VPC endpoints (SSM, Session Manager's channels, Secrets Manager, CloudWatch
   * Logs) in the private subnets, so instances boot, ship logs and open sessions without the
   * NAT gateway. Each costs per AZ-hour.
   */
  readonly interfaceEndpoints: boolean;
}

/** One role's fleet. */
export interface FleetConfig {
  /** EC2 instance type, e.g. `t3.small`. */
  readonly instanceType: string;
  /** Smallest number of instances once a release serves. */
  readonly minCapacity: number;
  /** Largest number of instances. */
  readonly maxCapacity: number;
  /** Root volume size (encrypted gp3). */
  readonly rootVolumeGiB: number;
}

/** The load balancer's health check of the web fleet, tuned for deploys. */
export interface HealthCheckConfig {
  /** Path answered with 200 when the app can serve (database and cache reachable). */
  readonly path: string;
  /** Seconds between checks, 5 to 10 (the ALB default of 30 s makes deploys slow). */
  readonly intervalSeconds: number;
  /** Seconds before a check times out; less than the interval. */
  readonly timeoutSeconds: number;
  /** Consecutive passes before a target is healthy. */
  readonly healthyThreshold: number;
  /** Consecutive failures before a target is unhealthy. */
  readonly unhealthyThreshold: number;
  /** Seconds an instance may take to boot before health checks count against it. */
  readonly gracePeriodSeconds: number;
}

/** The load balancer. */
export interface LoadBalancerConfig {
  /** Seconds a deregistering target keeps its connections (ALB default 300 s). */
  readonly deregistrationDelaySeconds: number;
  /** Seconds an idle connection is kept open. */
  readonly idleTimeoutSeconds: number;
  /** Days access logs are kept in their bucket. */
  readonly accessLogRetentionDays: number;
  /**
   * Refuse to delete the load balancer (`deletion_protection.enabled`), so that deleting the
   * stack fails instead of taking the site down; default on for `production`. Turn it off
   * (and cdk deploy) before tearing the environment down.
   */
  readonly deletionProtection: boolean;
}

/** The AWS managed rule groups herd's web application firewall can use (AWS Managed Rules, baseline and IP reputation groups). */
export const WAF_MANAGED_RULE_GROUPS = ['AWSManagedRulesCommonRuleSet', 'AWSManagedRulesKnownBadInputsRuleSet', 'AWSManagedRulesAmazonIpReputationList'] as const;
export type WafManagedRuleGroup = (typeof WAF_MANAGED_RULE_GROUPS)[number];

/**
 * The web application firewall (AWS WAF web ACL) in front of the load balancer: AWS managed
 * rule groups and a rate limit per client IP, its logs in CloudWatch Logs. On by default for
 * `production`. The Common Rule Set blocks request bodies over 8 KB (`SizeRestrictions_BODY`):
 * an app that takes uploads lists `AWSManagedRulesCommonRuleSet:SizeRestrictions_BODY` in
 * `excludedRules`.
 */
export interface WafConfig {
  readonly enabled: boolean;
  /** Requests one client IP may make in 5 minutes before the rate rule blocks it (10 to 2,000,000,000). */
  readonly rateLimitPer5Minutes: number;
  /** Count what the rules match instead of blocking (to tune the rules before enforcing them). */
  readonly countOnly: boolean;
  /** The managed rule groups evaluated, in this order. */
  readonly managedRules: readonly WafManagedRuleGroup[];
  /** Rules of those groups that only count, as `<group>:<rule>`, e.g. `AWSManagedRulesCommonRuleSet:SizeRestrictions_BODY`. */
  readonly excludedRules: readonly string[];
}

/**
 * Serving a production environment without TLS, said explicitly: without a certificate,
 * session cookies, logins and the maintenance bypass header cross the internet in clear text.
 */
export interface PlainHttpAcknowledgment {
  /** Why plain HTTP is acceptable here (at least 10 characters), e.g. "TLS ends at the CDN in front of it". */
  readonly reason: string;
}

/** The shared PostgreSQL database. */
export interface DatabaseConfig {
  /** RDS instance class without the `db.` prefix, e.g. `t4g.micro`. */
  readonly instanceType: string;
  /** Full PostgreSQL version, e.g. `17.6`; minor upgrades happen when this changes, not automatically. */
  readonly postgresVersion: string;
  readonly allocatedStorageGiB: number;
  /** Storage autoscaling ceiling; >= allocatedStorageGiB. */
  readonly maxAllocatedStorageGiB: number;
  readonly multiAz: boolean;
  /** Days automated backups are kept, 1 to 35. */
  readonly backupRetentionDays: number;
  /** Refuse deletion of the instance (and snapshot it when its stack is deleted). */
  readonly deletionProtection: boolean;
  /** Database name the app connects to. */
  readonly databaseName: string;
  /** Seconds between Enhanced Monitoring (OS metrics) samples: 0 (off), 1, 5, 10, 15, 30 or 60. */
  readonly enhancedMonitoringSeconds: number;
  /** Performance Insights (query-level load), with its free 7-day retention. */
  readonly performanceInsights: boolean;
  /**
   * Days between rotations of the master and application credentials (Secrets Manager; each
   * rotation of the application secret restarts web and worker); 0 turns rotation off.
   */
  readonly rotationDays: number;
}

/** The shared Redis-compatible cache (Valkey), for cache and sessions. */
export interface CacheConfig {
  /** ElastiCache node type without the `cache.` prefix, e.g. `t4g.micro`. */
  readonly nodeType: string;
  /** Read replicas besides the primary, 0 to 5; >= 1 enables Multi-AZ failover. */
  readonly replicas: number;
  /**
   * Days between rotations of the AUTH token (Secrets Manager, ElastiCache's ROTATE; each
   * rotation restarts web and worker); 0 turns rotation off.
   */
  readonly rotationDays: number;
}

/** Instance refresh settings of a `rolling` deploy. */
export interface RollingConfig {
  /** Healthy capacity kept during the refresh, as a percentage of desired. */
  readonly minHealthyPercentage: number;
  /** Capacity allowed during the refresh (> 100 launches before it terminates). */
  readonly maxHealthyPercentage: number;
  /** Seconds a new instance is given before it counts as in service. */
  readonly instanceWarmupSeconds: number;
  /** Percentages at which the refresh pauses for a check, increasing, last one 100. */
  readonly checkpointPercentages: readonly number[];
  /** Seconds the refresh waits at each checkpoint. */
  readonly checkpointDelaySeconds: number;
  /**
   * Refresh web and worker at the same time after the migration (each group's refresh is
   * independent); false refreshes web, then worker. Either way a failure of one rolls both back.
   */
  readonly parallelRoles: boolean;
}

/** How the database is backed up before a migration (`DeployConfig.backup`). */
export type BackupMode = 'none' | 'pitr' | 'snapshot' | 'snapshot-wait';
export const BACKUP_MODES: readonly BackupMode[] = ['none', 'pitr', 'snapshot', 'snapshot-wait'];
/** Backup modes that rely on point-in-time recovery (automated backups on). */
export const PITR_BACKUP_MODES: readonly BackupMode[] = ['pitr', 'snapshot'];

/** Deploy defaults; `herd deploy` flags override them per deploy. */
export interface DeployConfig {
  readonly strategy: DeployStrategy;
  readonly migrationOrder: MigrationOrder;
  /**
   * How the database is backed up before a deploy's migration (`BACKUP_MODES`):
   * - `pitr`: point-in-time recovery only: automated backups must be on (checked at pre-flight
   *   and again just before the migration), and the deploy records the time just before the
   *   migration as the point to restore to; nothing waits;
   * - `snapshot`: `pitr`, plus a manual snapshot started when the deploy starts (alongside the
   *   bake), never waited for before the migration; one that fails is a warning;
   * - `snapshot-wait`: a manual snapshot taken just before the migration and waited for
   *   (the database `available` first, then the snapshot: ~90 s or more on the critical path);
   * - `none`: nothing.
   * Replaces `backupBeforeMigrate` (true was `snapshot-wait`).
   */
  readonly backup: BackupMode;
  /**
   * herd's pre-migration snapshots kept per environment (the newest; older ones are deleted
   * when a deploy succeeds), so the account's manual-snapshot quota (100 per region by
   * default) is never reached.
   */
  readonly backupRetention: number;
  readonly rolling: RollingConfig;
  /** After a `full` deploy's new fleet is healthy, minutes to keep the page up for a check through the bypass. */
  readonly holdMaintenanceMinutes: number;
  /**
   * Minutes the deploy keeps watching the rollback alarms once the new release serves
   * everyone (after the refresh; after a `full` deploy's page comes off); an alarm in ALARM
   * then rolls the release back. 0: no watch after the rollout (a refresh's own auto-rollback
   * and a `full` deploy's watch behind the page still apply).
   */
  readonly alarmWatchMinutes: number;
  /**
   * New instances of the release that may fail their load-balancer health check for the same
   * reason (and be replaced by Auto Scaling) before the deploy stops, rolls back and reports
   * the reason and the boot log's tail, instead of waiting out `timeouts.rolloutMinutes`
   * (1–50, default 3). A one-instance fleet counts each replacement: 3 failures take about
   * 5 minutes.
   */
  readonly maxFailedInstances: number;
  /** Limits of each wait; a deploy that exceeds one fails and compensates. */
  readonly timeouts: DeployTimeouts;
  /** Instance type of the bake builder and the migration runner. */
  readonly builderInstanceType: string;
  /**
   * Largest artifact `herd deploy|bake <env> <path>` uploads, in MiB (compressed); a larger
   * one is refused before any upload, naming its largest files and directories.
   */
  readonly maxArtifactMiB: number;
}

export interface DeployTimeouts {
  readonly bakeMinutes: number;
  readonly imageMinutes: number;
  readonly migrateMinutes: number;
  readonly rolloutMinutes: number;
}

/** Who reaches the app while the maintenance page is up. */
export interface MaintenanceConfig {
  /**
   * A request carrying the value of the bypass secret (generated by the stack, stack output
   * `MaintenanceBypassSecretArn`) in the `X-Herd-Bypass` header skips the page.
   */
  readonly bypassHeader: boolean;
  /** Source CIDRs that skip the page (at most 5, the ALB limit of values per rule condition). */
  readonly bypassCidrs: readonly string[];
}

/** Alarm thresholds; alarms notify the environment's SNS topic. */
export interface AlarmConfig {
  /** Target 5xx responses per minute before the alarm fires. */
  readonly target5xxPerMinute: number;
  /** Unhealthy targets tolerated before the alarm fires. */
  readonly unhealthyHosts: number;
  /** p99 target response time, seconds, before the alarm fires. */
  readonly latencyP99Seconds: number;
  /** Database CPU, percent, averaged over 5-minute periods, before the alarm fires. */
  readonly databaseCpuPercent: number;
  /** CPU credits left on a burstable (db.t*) database before the alarm fires (RDS runs them in Unlimited mode: below zero costs extra). */
  readonly databaseCpuCreditBalance: number;
  /** Free storage, as a percentage of the autoscaling ceiling (maxAllocatedStorageGiB), below which the alarm fires. */
  readonly databaseFreeStoragePercent: number;
  /** Database connections before the alarm fires. */
  readonly databaseConnections: number;
  /** Cache memory used, percent (DatabaseMemoryUsagePercentage), before the alarm fires. */
  readonly cacheMemoryPercent: number;
  /** Cache engine CPU, percent (EngineCPUUtilization), before the alarm fires. */
  readonly cacheCpuPercent: number;
  /** Keys evicted from the cache per 5 minutes before the alarm fires. */
  readonly cacheEvictions: number;
  /** Packets a NAT gateway drops per 5 minutes before its alarm fires. */
  readonly natPacketsDropped: number;
  /** Email addresses subscribed to the topic (confirmed by each recipient). */
  readonly emails: readonly string[];
}

/** One fully resolved environment. */
export interface EnvironmentConfig {
  /** DNS-safe name: lower-case letters, digits, hyphens; the stack is `herd-<name>`. */
  readonly name: string;
  readonly profile: Profile;
  /** AWS account; `undefined` synthesizes an environment-agnostic stack. */
  readonly account?: string;
  /** AWS region; `undefined` synthesizes an environment-agnostic stack. */
  readonly region?: string;
  /** Host names served; with a certificate, the listener is HTTPS. */
  readonly domainNames: readonly string[];
  /** ACM certificate ARN for `domainNames`. Required for a `production` environment unless `allowPlainHttp` says why not. */
  readonly certificateArn?: string;
  /** A `production` environment without `certificateArn` must say why it may serve plain HTTP. */
  readonly allowPlainHttp?: PlainHttpAcknowledgment;
  /** TCP port the web process listens on (`$PORT`). */
  readonly appPort: number;
  /** Plain (non-secret) settings handed to the app as environment variables. */
  readonly appSettings: Readonly<Record<string, string>>;
  readonly network: NetworkConfig;
  readonly web: FleetConfig;
  readonly worker: FleetConfig;
  readonly healthCheck: HealthCheckConfig;
  readonly loadBalancer: LoadBalancerConfig;
  readonly waf: WafConfig;
  readonly database: DatabaseConfig;
  readonly cache: CacheConfig;
  readonly deploy: DeployConfig;
  readonly maintenance: MaintenanceConfig;
  readonly alarms: AlarmConfig;
  /** Baked images kept besides those in use: the last N releases. */
  readonly amiRetention: number;
  /** Days application and deploy logs are kept. */
  readonly logRetentionDays: number;
  /**
   * ARN of a customer-managed KMS key (`arn:aws:kms:<region>:<account>:key/<id>`) that
   * encrypts every EBS volume herd launches: fleets, bake builder, migration runner, and so
   * the baked images' snapshots. Unset: the account's default EBS encryption key. The key
   * policy must let the deploy step create grants for EC2 and Auto Scaling's service-linked
   * role use the key (README, "A customer-managed EBS key").
   */
  readonly ebsKmsKeyArn?: string;
}

/** The whole configuration: one app, several environments. */
export interface HerdConfig {
  /** DNS-safe app name; names its release directories, units, parameters. */
  readonly app: string;
  readonly environments: readonly EnvironmentConfig[];
}

/** Deep partial, for what operators write. */
export type DeepPartial<T> = T extends readonly (infer U)[]
  ? readonly U[]
  : T extends object
    ? { readonly [K in keyof T]?: DeepPartial<T[K]> }
    : T;

/** What an operator writes for one environment: a name, a profile, and overrides of its defaults. */
export type EnvironmentSettings = DeepPartial<Omit<EnvironmentConfig, 'name'>> & { readonly name: string };

/** What an operator writes: the app and its environments. */
export interface HerdSettings {
  readonly app: string;
  readonly environments: readonly EnvironmentSettings[];
}
