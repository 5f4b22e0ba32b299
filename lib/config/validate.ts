import { z } from 'zod';
import { architectureOf } from '../architecture';
import { profileDefaults } from './defaults';
import { SETTING_NAME, isHerdSetting } from '../app-settings';
import {
  BACKUP_MODES,
  DEPLOY_STRATEGIES,
  EnvironmentConfig,
  HerdConfig,
  MIGRATION_ORDERS,
  PROFILES,
  WAF_MANAGED_RULE_GROUPS,
} from './types';

/**
 * Validation of herd's configuration: shape and ranges of every field (zod), then rules
 * that span fields or environments. Every problem is collected; none stops the others
 * from being found. Messages read `<environment>.<key> (<value received>) <what is allowed>`.
 */

/** Thrown when the configuration has problems; `problems` lists every one. */
export class ConfigError extends Error {
  public readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(
      `herd configuration has ${problems.length} problem${problems.length === 1 ? '' : 's'}; nothing was synthesized:\n` +
        problems.map((p) => `  - ${p}`).join('\n'),
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const DNS_NAME = /^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$/;
const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;
const HOSTNAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const CERTIFICATE_ARN = /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/;
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/(mrk-)?[0-9a-f-]{32,36}$/;
/** `<managed rule group>:<rule name>`; WAF rule names are 1–128 letters, digits, `_` or `-`. */
const WAF_EXCLUDED_RULE = /^([A-Za-z]+):([A-Za-z0-9_-]{1,128})$/;
/** Shortest reason `allowPlainHttp` accepts: a word or two is not a reason. */
export const MIN_PLAIN_HTTP_REASON_CHARS = 10;
/**
 * The rate-based rule's limit per 5-minute window: at least 10 (AWS WAF Developer Guide,
 * "Rate-based rule high-level settings"), at most 2,000,000,000 (WAFV2 API, RateBasedStatement.Limit).
 */
export const WAF_RATE_LIMIT_MIN = 10;
export const WAF_RATE_LIMIT_MAX = 2_000_000_000;


/** Parses `a.b.c.d/n` into a 32-bit network address and prefix, or undefined. */
export function parseCidr(cidr: string): { network: number; prefix: number } | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return undefined;
  const address = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  if ((address & mask) >>> 0 !== address) return undefined; // host bits set: not a network address
  return { network: address, prefix };
}

function cidrsOverlap(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  if (!x || !y) return false;
  const prefix = Math.min(x.prefix, y.prefix);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (x.network & mask) >>> 0 === (y.network & mask) >>> 0;
}

const cidr = (what: string) =>
  z.string().refine((v) => parseCidr(v) !== undefined, {
    message: `must be an IPv4 network in CIDR notation with no host bits set (e.g. 203.0.113.0/24), for ${what}`,
  });

const int = (min: number, max: number, unit = '') =>
  z
    .number({ message: `must be a number${unit}` })
    .int({ message: `must be a whole number${unit}` })
    .min(min, { message: `must be >= ${min}${unit}` })
    .max(max, { message: `must be <= ${max}${unit}` });

const instanceType = (example: string) =>
  z.string().regex(INSTANCE_TYPE, { message: `must be an instance type like "${example}" (family.size)` });

const oneOf = <T extends string>(values: readonly T[]) =>
  z.enum(values as [T, ...T[]], { message: `must be one of ${values.map((v) => `"${v}"`).join(', ')}` });

const bool = z.boolean({ message: 'must be true or false' });

/** Enhanced Monitoring intervals RDS accepts. */
const ENHANCED_MONITORING_SECONDS = [0, 1, 5, 10, 15, 30, 60] as const;

const fleetSchema = z.strictObject({
  instanceType: instanceType('t3.small').optional(),
  minCapacity: int(0, 500).optional(),
  maxCapacity: int(1, 500).optional(),
  rootVolumeGiB: int(8, 16384, ' GiB').optional(),
});

const environmentSchema = z.strictObject({
  name: z.string({ message: 'must be a string' }).regex(DNS_NAME, {
    message: 'must be DNS-safe: 1-32 lower-case letters, digits or hyphens, starting with a letter, not ending with a hyphen',
  }),
  profile: oneOf(PROFILES).optional(),
  account: z.string().regex(/^\d{12}$/, { message: 'must be a 12-digit AWS account id' }).optional(),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { message: 'must be an AWS region like "eu-west-1"' }).optional(),
  domainNames: z.array(z.string().regex(HOSTNAME, { message: 'must be a lower-case host name like "www.example.com"' })).optional(),
  certificateArn: z.string().regex(CERTIFICATE_ARN, { message: 'must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)' }).optional(),
  allowPlainHttp: z
    .strictObject({
      reason: z
        .string({ message: `must be a string saying why this environment may serve plain HTTP (at least ${MIN_PLAIN_HTTP_REASON_CHARS} characters)` })
        .refine((r) => r.trim().length >= MIN_PLAIN_HTTP_REASON_CHARS, {
          message: `must say why this environment may serve plain HTTP in at least ${MIN_PLAIN_HTTP_REASON_CHARS} characters, e.g. "TLS ends at the CDN in front of it"`,
        }),
    }, { message: 'must be { reason: "<why plain HTTP is acceptable here>" }' })
    .optional(),
  appPort: int(1024, 65535).optional(),
  appSettings: z
    .record(
      z.string().regex(SETTING_NAME, { message: 'setting names must be environment variable names (A-Z, 0-9, _)' }),
      z.string({ message: 'must be a string' }),
    )
    .optional(),
  network: z
    .strictObject({
      cidr: cidr('the VPC').optional(),
      maxAzs: int(2, 6).optional(),
      natGateways: int(1, 6).optional(),
      flowLogRetentionDays: int(1, 3653, ' days').optional(),
      interfaceEndpoints: bool.optional(),
    })
    .optional(),
  web: fleetSchema.optional(),
  worker: fleetSchema.optional(),
  healthCheck: z
    .strictObject({
      path: z.string().regex(/^\/[\x21-\x7e]{0,1023}$/, { message: 'must be a URL path starting with "/"' }).optional(),
      intervalSeconds: int(5, 10, ' seconds (deploys wait for health checks: keep them fast)').optional(),
      timeoutSeconds: int(2, 120, ' seconds').optional(),
      healthyThreshold: int(2, 10).optional(),
      unhealthyThreshold: int(2, 10).optional(),
      gracePeriodSeconds: int(0, 7200, ' seconds').optional(),
    })
    .optional(),
  loadBalancer: z
    .strictObject({
      deregistrationDelaySeconds: int(0, 3600, ' seconds').optional(),
      idleTimeoutSeconds: int(1, 4000, ' seconds').optional(),
      accessLogRetentionDays: int(1, 3653, ' days').optional(),
      deletionProtection: bool.optional(),
    })
    .optional(),
  waf: z
    .strictObject({
      enabled: bool.optional(),
      rateLimitPer5Minutes: int(WAF_RATE_LIMIT_MIN, WAF_RATE_LIMIT_MAX, ' requests per client IP in 5 minutes (AWS WAF rate-based rule limits)').optional(),
      countOnly: bool.optional(),
      managedRules: z
        .array(oneOf(WAF_MANAGED_RULE_GROUPS))
        .refine((groups) => new Set(groups).size === groups.length, { message: 'must not list a rule group twice' })
        .optional(),
      excludedRules: z
        .array(z.string().regex(WAF_EXCLUDED_RULE, { message: 'must be "<rule group>:<rule name>", e.g. "AWSManagedRulesCommonRuleSet:SizeRestrictions_BODY"' }))
        .optional(),
    })
    .optional(),
  database: z
    .strictObject({
      instanceType: instanceType('t4g.micro').optional(),
      postgresVersion: z.string().regex(/^1[4-8]\.\d{1,2}$/, { message: 'must be a full PostgreSQL version from 14 to 18, like "17.6" (minor upgrades are deliberate: bump it, rehearse on staging)' }).optional(),
      allocatedStorageGiB: int(20, 65536, ' GiB').optional(),
      maxAllocatedStorageGiB: int(20, 65536, ' GiB').optional(),
      multiAz: bool.optional(),
      backupRetentionDays: int(1, 35, ' days').optional(),
      deletionProtection: bool.optional(),
      databaseName: z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, { message: 'must be a PostgreSQL identifier: a lower-case letter, then letters, digits or _' }).optional(),
      // The intervals RDS accepts (CreateDBInstance MonitoringInterval: 0, 1, 5, 10, 15, 30, 60).
      enhancedMonitoringSeconds: z.union(ENHANCED_MONITORING_SECONDS.map((n) => z.literal(n)), { message: `must be one of ${ENHANCED_MONITORING_SECONDS.join(', ')} seconds (0 turns Enhanced Monitoring off)` }).optional(),
      performanceInsights: bool.optional(),
      // Secrets Manager's schedule takes 1 to 1000 days (RotationRules.AutomaticallyAfterDays); 0: no rotation.
      rotationDays: int(0, 1000, ' days (0 turns rotation off)').optional(),
    })
    .optional(),
  cache: z
    .strictObject({
      nodeType: instanceType('t4g.micro').optional(),
      replicas: int(0, 5).optional(),
      // As database.rotationDays: Secrets Manager's 1 to 1000 days; 0: no rotation.
      rotationDays: int(0, 1000, ' days (0 turns rotation off)').optional(),
    })
    .optional(),
  deploy: z
    .strictObject({
      strategy: oneOf(DEPLOY_STRATEGIES).optional(),
      migrationOrder: oneOf(MIGRATION_ORDERS).optional(),
      backup: oneOf(BACKUP_MODES).optional(),
      // Replaced by deploy.backup: `true` no longer says whether the deploy waits for the snapshot.
      backupBeforeMigrate: z
        .unknown()
        .refine(() => false, {
          message:
            'was replaced by deploy.backup: write backup: "snapshot-wait" for what true did (snapshot and wait before the migration), ' +
            '"snapshot" (point-in-time recovery plus a snapshot alongside the bake, not waited for), "pitr", or "none" for false',
        })
        .optional(),
      backupRetention: int(1, 50, ' snapshots (RDS allows 100 manual snapshots per region by default)').optional(),
      rolling: z
        .strictObject({
          minHealthyPercentage: int(0, 100, ' %').optional(),
          maxHealthyPercentage: int(100, 200, ' %').optional(),
          instanceWarmupSeconds: int(0, 3600, ' seconds').optional(),
          checkpointPercentages: z.array(int(1, 100, ' %')).optional(),
          checkpointDelaySeconds: int(0, 172800, ' seconds').optional(),
          parallelRoles: bool.optional(),
        })
        .optional(),
      holdMaintenanceMinutes: int(0, 240, ' minutes').optional(),
      alarmWatchMinutes: int(0, 120, ' minutes').optional(),
      maxFailedInstances: int(1, 50, ' instances').optional(),
      timeouts: z
        .strictObject({
          bakeMinutes: int(5, 600, ' minutes').optional(),
          imageMinutes: int(5, 720, ' minutes (a longer wait would not fit one Step Functions execution)').optional(),
          migrateMinutes: int(1, 600, ' minutes').optional(),
          rolloutMinutes: int(5, 720, ' minutes (a longer wait would not fit one Step Functions execution)').optional(),
        })
        .optional(),
      builderInstanceType: instanceType('t3.medium').optional(),
      maxArtifactMiB: int(1, 5 * 1024 * 1024, ' MiB (S3 stores at most 5 TiB per object)').optional(),
    })
    .optional(),
  maintenance: z
    .strictObject({
      bypassHeader: bool.optional(),
      bypassCidrs: z.array(cidr('a maintenance bypass')).max(5, { message: 'must list at most 5 CIDRs (ALB limit of values per rule condition)' }).optional(),
    })
    .optional(),
  alarms: z
    .strictObject({
      target5xxPerMinute: int(1, 1000000).optional(),
      unhealthyHosts: int(0, 1000).optional(),
      latencyP99Seconds: z.number().positive({ message: 'must be > 0 seconds' }).max(4000, { message: 'must be <= 4000 seconds' }).optional(),
      databaseCpuPercent: int(1, 100, ' %').optional(),
      databaseCpuCreditBalance: int(1, 10000, ' credits').optional(),
      databaseFreeStoragePercent: int(1, 99, ' % of maxAllocatedStorageGiB').optional(),
      databaseConnections: int(1, 262143, ' connections (PostgreSQL\'s max_connections limit)').optional(),
      cacheMemoryPercent: int(1, 100, ' %').optional(),
      cacheCpuPercent: int(1, 100, ' %').optional(),
      cacheEvictions: int(1, 100000000, ' keys per 5 minutes').optional(),
      natPacketsDropped: int(1, 100000000, ' packets per 5 minutes').optional(),
      emails: z.array(z.string().regex(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, { message: 'must be an email address' })).optional(),
    })
    .optional(),
  amiRetention: int(1, 100, ' releases (keep at least the previous release for rollback)').optional(),
  logRetentionDays: int(1, 3653, ' days').optional(),
  ebsKmsKeyArn: z.string().regex(KMS_KEY_ARN, { message: 'must be the ARN of a KMS key (arn:aws:kms:<region>:<account>:key/<key-id>), not an alias: IAM grants and key policies name keys by ARN' }).optional(),
});

const settingsSchema = z.strictObject({
  app: z.string({ message: 'must be a string' }).regex(DNS_NAME, {
    message: 'must be DNS-safe: 1-32 lower-case letters, digits or hyphens, starting with a letter',
  }),
  environments: z.array(z.unknown(), { message: 'must be a list of environments' }).min(1, { message: 'must define at least one environment' }),
});

function show(value: unknown): string {
  if (value === undefined) return 'missing';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

function formatIssues(prefix: string, input: unknown, issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.flatMap((issue) => {
    const base = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map(
        (key) => `${[prefix, ...base, key].filter(Boolean).join('.')} (${show(valueAt(input, [...issue.path, key]))}) is not a known setting; check its spelling in the configuration reference`,
      );
    }
    const where = [prefix, ...base].filter(Boolean).join('.');
    return [`${where} (${show(valueAt(input, issue.path))}) ${issue.message}`];
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge: plain objects merge key by key; arrays and scalars replace. */
function merge<T>(base: T, override: unknown): T {
  if (!isRecord(base) || !isRecord(override)) return (override === undefined ? base : override) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === undefined) continue;
    out[key] = key in base && isRecord((base as Record<string, unknown>)[key]) && isRecord(value)
      ? merge((base as Record<string, unknown>)[key], value)
      : value;
  }
  return out as T;
}

/** A deep copy of `value` without the given key paths. */
function withoutPaths(value: unknown, paths: readonly (readonly PropertyKey[])[]): unknown {
  const copy: unknown = JSON.parse(JSON.stringify(value ?? null));
  // Deepest and highest array index first, so that removing one element shifts no other.
  const ordered = [...paths].sort((a, b) => b.length - a.length || Number(b[b.length - 1]) - Number(a[a.length - 1]));
  for (const path of ordered) {
    if (path.length === 0) continue;
    const parent = valueAt(copy, path.slice(0, -1));
    const key = path[path.length - 1];
    if (Array.isArray(parent) && typeof key === 'number') parent.splice(key, 1);
    else if (parent !== null && typeof parent === 'object') delete (parent as Record<PropertyKey, unknown>)[key];
  }
  return copy;
}

/**
 * The fleets and the bake builder share one CPU architecture: both fleets boot the image the
 * builder bakes, and an instance boots only an image of its own architecture.
 */
function checkArchitectures(env: EnvironmentConfig, at: (key: string, value: unknown, rule: string) => void): void {
  const web = architectureOf(env.web.instanceType);
  const worker = architectureOf(env.worker.instanceType);
  const builder = architectureOf(env.deploy.builderInstanceType);
  if (worker !== web) {
    at('worker.instanceType', env.worker.instanceType, `is ${worker} but web.instanceType (${show(env.web.instanceType)}) is ${web}; both fleets boot the same image, so they need one architecture`);
  }
  if (builder !== web) {
    const example = web === 'arm64' ? 't4g.medium' : 't3.medium';
    at('deploy.builderInstanceType', env.deploy.builderInstanceType, `is ${builder} but web.instanceType (${show(env.web.instanceType)}) is ${web}; the builder bakes images for its own architecture: use an ${web} type such as "${example}"`);
  }
}

/** Rules that span fields of one environment. `problems` receives each one found. */
function checkEnvironment(env: EnvironmentConfig, problems: string[]): void {
  const at = (key: string, value: unknown, rule: string) => problems.push(`${env.name}.${key} (${show(value)}) ${rule}`);

  for (const role of ['web', 'worker'] as const) {
    const fleet = env[role];
    if (fleet.minCapacity > fleet.maxCapacity) {
      at(`${role}.minCapacity`, fleet.minCapacity, `must be <= maxCapacity (${fleet.maxCapacity})`);
    }
  }
  if (env.web.minCapacity < 1) {
    at('web.minCapacity', env.web.minCapacity, 'must be >= 1: a web fleet of 0 serves nothing once a release is out');
  }
  if (env.network.natGateways > env.network.maxAzs) {
    at('network.natGateways', env.network.natGateways, `must be <= maxAzs (${env.network.maxAzs}): at most one NAT gateway per AZ`);
  }
  const vpc = parseCidr(env.network.cidr);
  if (vpc && (vpc.prefix < 16 || vpc.prefix > 22)) {
    at('network.cidr', env.network.cidr, 'must have a prefix from /16 to /22 so that 3 subnet tiers fit in every AZ');
  }
  if (env.domainNames.length > 0 && env.certificateArn === undefined) {
    at('certificateArn', env.certificateArn, `is required when domainNames are set (${env.domainNames.join(', ')}): herd serves a domain over HTTPS only; request an ACM certificate for them`);
  }
  if (env.profile === 'production' && env.certificateArn === undefined && env.allowPlainHttp === undefined && env.domainNames.length === 0) {
    at(
      'certificateArn',
      env.certificateArn,
      'is required for a production environment: without TLS, session cookies, logins and the maintenance bypass header cross the internet in clear text. ' +
        'Set certificateArn to an ACM certificate of the environment\'s region, or, if plain HTTP is really acceptable here, say why with allowPlainHttp: { reason: "…" }',
    );
  }
  if (env.allowPlainHttp !== undefined && env.certificateArn !== undefined) {
    at('allowPlainHttp', env.allowPlainHttp, 'has no effect with a certificateArn (the site is served over HTTPS, HTTP only redirects): remove it');
  }
  for (const [i, rule] of env.waf.excludedRules.entries()) {
    const group = WAF_EXCLUDED_RULE.exec(rule)?.[1];
    if (group !== undefined && !(env.waf.managedRules as readonly string[]).includes(group)) {
      at(`waf.excludedRules.${i}`, rule, `names a rule group that waf.managedRules does not list (${env.waf.managedRules.join(', ') || 'none'}); known groups: ${WAF_MANAGED_RULE_GROUPS.join(', ')}`);
    }
  }
  if (new Set(env.waf.excludedRules).size !== env.waf.excludedRules.length) {
    at('waf.excludedRules', env.waf.excludedRules, 'lists a rule twice');
  }
  if (env.certificateArn !== undefined && env.region !== undefined) {
    const certRegion = env.certificateArn.split(':')[3];
    if (certRegion !== env.region) {
      at('certificateArn', env.certificateArn, `must be in the environment's region (${env.region}), not ${certRegion}`);
    }
  }
  if (env.ebsKmsKeyArn !== undefined && env.region !== undefined) {
    const keyRegion = env.ebsKmsKeyArn.split(':')[3];
    if (keyRegion !== env.region) at('ebsKmsKeyArn', env.ebsKmsKeyArn, `must be in the environment's region (${env.region}), not ${keyRegion}: EBS volumes use a key of their own region`);
  }
  checkArchitectures(env, at);
  if ((env.account === undefined) !== (env.region === undefined)) {
    at(env.account === undefined ? 'account' : 'region', env.account ?? env.region, 'must be set together with ' + (env.account === undefined ? 'region' : 'account') + ', or neither for an environment-agnostic stack');
  }
  const hc = env.healthCheck;
  if (hc.timeoutSeconds >= hc.intervalSeconds) {
    at('healthCheck.timeoutSeconds', hc.timeoutSeconds, `must be < intervalSeconds (${hc.intervalSeconds})`);
  }
  if (env.database.maxAllocatedStorageGiB < env.database.allocatedStorageGiB) {
    at('database.maxAllocatedStorageGiB', env.database.maxAllocatedStorageGiB, `must be >= allocatedStorageGiB (${env.database.allocatedStorageGiB})`);
  }
  const d = env.deploy;
  if (d.migrationOrder === 'maintenance' && d.strategy !== 'full') {
    at('deploy.migrationOrder', d.migrationOrder, `needs deploy.strategy "full" (got "${d.strategy}"): only a full deploy has a maintenance window`);
  }
  const r = d.rolling;
  if (r.maxHealthyPercentage - r.minHealthyPercentage > 100) {
    at('deploy.rolling.maxHealthyPercentage', r.maxHealthyPercentage, `must be at most 100 above minHealthyPercentage (${r.minHealthyPercentage}): instance refresh refuses a wider range`);
  }
  if (r.minHealthyPercentage === 100 && r.maxHealthyPercentage <= 100) {
    at('deploy.rolling.maxHealthyPercentage', r.maxHealthyPercentage, 'must be > 100 when minHealthyPercentage is 100 (launch before terminate needs room)');
  }
  const cps = r.checkpointPercentages;
  if (cps.length > 0) {
    const increasing = cps.every((p, i) => i === 0 || p > cps[i - 1]);
    if (!increasing || cps[cps.length - 1] !== 100) {
      at('deploy.rolling.checkpointPercentages', cps, 'must increase strictly and end with 100');
    }
  }
  if (r.checkpointDelaySeconds > 0 && cps.length === 0) {
    at('deploy.rolling.checkpointDelaySeconds', r.checkpointDelaySeconds, 'has no effect without checkpointPercentages');
  }
  for (const key of Object.keys(env.appSettings)) {
    if (isHerdSetting(key)) {
      at(`appSettings.${key}`, env.appSettings[key], 'is set by herd itself; choose another name');
    }
  }
  if (!env.maintenance.bypassHeader && env.maintenance.bypassCidrs.length === 0 && env.deploy.holdMaintenanceMinutes > 0) {
    at('deploy.holdMaintenanceMinutes', env.deploy.holdMaintenanceMinutes, 'needs a maintenance bypass (maintenance.bypassHeader or bypassCidrs): nobody could check the release during the hold');
  }
}

/** Keys whose rules depend on another section: when that section is invalid, their rules are skipped too. */
const SECTIONS_DECIDED_BY: Readonly<Record<string, readonly string[]>> = {
  // An invalid acknowledgment is reported as such, not also as a missing certificate.
  allowPlainHttp: ['certificateArn'],
};

/**
 * Validates what an operator wrote and applies profile defaults.
 * @throws ConfigError listing every problem found, in every environment.
 */
export function resolveConfig(settings: unknown): HerdConfig {
  const top = settingsSchema.safeParse(settings);
  if (!top.success) {
    throw new ConfigError(formatIssues('', settings, top.error.issues));
  }
  const { app, environments } = top.data;
  const problems: string[] = [];
  const resolved: EnvironmentConfig[] = [];
  const seen = new Map<string, number>();

  environments.forEach((raw, index) => {
    const label = isRecord(raw) && typeof raw.name === 'string' && raw.name !== '' ? raw.name : `environments[${index}]`;
    const parsed = environmentSchema.safeParse(raw);
    let settings: z.infer<typeof environmentSchema>;
    let invalidSections: string[] = [];
    if (parsed.success) {
      settings = parsed.data;
    } else {
      problems.push(...formatIssues(label, raw, parsed.error.issues));
      // Keep looking: drop the invalid values and check what is left, so that one run
      // reports every problem; rules touching a section with an invalid value are skipped.
      const pruned = withoutPaths(raw, parsed.error.issues.map((i) => (i.code === 'unrecognized_keys' ? [...i.path, ...i.keys] : i.path)));
      const retry = environmentSchema.safeParse(pruned);
      if (!retry.success) return;
      settings = retry.data;
      invalidSections = parsed.error.issues.flatMap((i) => [String(i.path[0] ?? ''), ...(SECTIONS_DECIDED_BY[String(i.path[0] ?? '')] ?? [])].map((s) => `${settings.name}.${s}`));
    }
    const previous = seen.get(settings.name);
    if (previous !== undefined) {
      problems.push(`environments[${index}].name (${show(settings.name)}) duplicates environments[${previous}]; every environment needs its own name`);
      return;
    }
    seen.set(settings.name, index);
    const env = { ...merge(profileDefaults(settings.profile ?? 'small', app), settings), name: settings.name } as EnvironmentConfig;
    const found: string[] = [];
    checkEnvironment(env, found);
    problems.push(...found.filter((p) => !invalidSections.some((section) => p.startsWith(`${section}.`) || p.startsWith(`${section} `))));
    resolved.push(env);
  });

  // Environments may be peered or share a transit gateway: their networks must not overlap.
  for (let i = 0; i < resolved.length; i++) {
    for (let j = i + 1; j < resolved.length; j++) {
      const [a, b] = [resolved[i], resolved[j]];
      if (cidrsOverlap(a.network.cidr, b.network.cidr)) {
        problems.push(`${b.name}.network.cidr (${show(b.network.cidr)}) overlaps ${a.name}.network.cidr (${a.network.cidr}); give each environment its own range`);
      }
    }
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return { app, environments: resolved };
}
