import { ConfigError, resolveConfig } from '../../lib/config/validate';
import type { HerdSettings } from '../../lib/config/types';
import defaultSettings from '../../herd.config';

/** Runs the validation and returns the problems it reports (none when valid). */
function problemsOf(settings: unknown): readonly string[] {
  try {
    resolveConfig(settings);
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}

/** A production environment's certificate (production serves HTTPS only). */
const CERTIFICATE = 'arn:aws:acm:eu-west-1:123456789012:certificate/0b5f3f4e-1111-2222-3333-444455556666';

const one = (overrides: Record<string, unknown>): HerdSettings => ({
  app: 'mootube',
  environments: [{ name: 'production', profile: 'production', network: { cidr: '10.30.0.0/16' }, certificateArn: CERTIFICATE, ...overrides }],
});

describe('the default configuration', () => {
  const config = resolveConfig(defaultSettings);

  test('defines testing, staging and production for mootube', () => {
    expect(config.app).toBe('mootube');
    expect(config.environments.map((e) => e.name)).toEqual(['testing', 'staging', 'production']);
  });

  test('keeps testing cheap and production safe', () => {
    const testing = config.environments.find((e) => e.name === 'testing')!;
    const production = config.environments.find((e) => e.name === 'production')!;
    expect(testing.network.natGateways).toBe(1);
    expect(testing.database.multiAz).toBe(false);
    expect(testing.cache.replicas).toBe(0);
    expect(production.network.natGateways).toBe(production.network.maxAzs);
    expect(production.database).toMatchObject({ multiAz: true, deletionProtection: true });
    expect(production.database.backupRetentionDays).toBeGreaterThanOrEqual(7);
    expect(production.cache.replicas).toBeGreaterThanOrEqual(1);
    // The cache's AUTH token rotates like the database credentials, in every profile.
    expect([testing.cache.rotationDays, production.cache.rotationDays]).toEqual([30, 30]);
    expect(production.deploy.backup).toBe('snapshot');
    expect(testing.deploy.backup).toBe('none');
  });

  test('production keeps every log a year, monitors its database closely and reaches AWS APIs through endpoints; testing stays cheap', () => {
    const testing = config.environments.find((e) => e.name === 'testing')!;
    const production = config.environments.find((e) => e.name === 'production')!;
    expect(production.logRetentionDays).toBeGreaterThanOrEqual(365);
    expect(production.network.flowLogRetentionDays).toBeGreaterThanOrEqual(365);
    expect(production.loadBalancer.accessLogRetentionDays).toBeGreaterThanOrEqual(365);
    expect(production.database).toMatchObject({ enhancedMonitoringSeconds: 60, performanceInsights: true });
    expect(production.network.interfaceEndpoints).toBe(true);
    expect(testing.database).toMatchObject({ enhancedMonitoringSeconds: 0, performanceInsights: false });
    expect(testing.network.interfaceEndpoints).toBe(false);
    expect(testing.logRetentionDays).toBe(14);
  });

  test('alarm thresholds differ per profile and can be overridden', () => {
    const testing = config.environments.find((e) => e.name === 'testing')!;
    const production = config.environments.find((e) => e.name === 'production')!;
    expect(production.alarms.databaseCpuPercent).toBeLessThan(testing.alarms.databaseCpuPercent);
    expect(production.alarms.cacheEvictions).toBeLessThan(testing.alarms.cacheEvictions);
    const custom = resolveConfig(one({ alarms: { databaseConnections: 42, cacheCpuPercent: 70 } })).environments[0]!;
    expect(custom.alarms).toMatchObject({ databaseConnections: 42, cacheCpuPercent: 70, databaseCpuPercent: production.alarms.databaseCpuPercent });
  });

  test('tunes health checks and deregistration for deploys', () => {
    for (const env of config.environments) {
      expect(env.healthCheck.intervalSeconds).toBeLessThanOrEqual(10);
      expect(env.healthCheck.healthyThreshold).toBe(2);
      expect(env.loadBalancer.deregistrationDelaySeconds).toBeLessThanOrEqual(30);
    }
  });

  test('keeps overrides and fills the rest from the profile', () => {
    const production = config.environments.find((e) => e.name === 'production')!;
    expect(production.web).toEqual({ instanceType: 't3.medium', minCapacity: 2, maxCapacity: 8, rootVolumeGiB: 20 });
    expect(production.deploy.rolling.checkpointPercentages).toEqual([50, 100]);
    expect(production.deploy.rolling.minHealthyPercentage).toBe(100);
    // Web and worker roll at once unless the configuration says otherwise.
    expect(production.deploy.rolling.parallelRoles).toBe(true);
  });
});

describe('invalid configurations', () => {
  test.each<[string, HerdSettings | unknown, string]>([
    ['Graviton web servers with an x86_64 worker fleet', one({ web: { instanceType: 't4g.medium' }, worker: { instanceType: 't3.medium' }, deploy: { builderInstanceType: 't4g.medium' } }),
      'production.worker.instanceType ("t3.medium") is x86_64 but web.instanceType ("t4g.medium") is arm64; both fleets boot the same image, so they need one architecture'],
    ['Graviton fleets with an x86_64 builder', one({ web: { instanceType: 'm7g.large' }, worker: { instanceType: 'c7g.large' } }),
      'production.deploy.builderInstanceType ("t3.medium") is x86_64 but web.instanceType ("m7g.large") is arm64; the builder bakes images for its own architecture: use an arm64 type such as "t4g.medium"'],
    ['an EBS key given by alias', one({ ebsKmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:alias/ebs' }),
      'production.ebsKmsKeyArn ("arn:aws:kms:eu-west-1:123456789012:alias/ebs") must be the ARN of a KMS key (arn:aws:kms:<region>:<account>:key/<key-id>), not an alias: IAM grants and key policies name keys by ARN'],
    ['an EBS key of another region', one({ account: '123456789012', region: 'eu-west-1', ebsKmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d' }),
      'production.ebsKmsKeyArn ("arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d") must be in the environment\'s region (eu-west-1), not us-east-1: EBS volumes use a key of their own region'],
    ['min capacity above max', one({ web: { minCapacity: 5, maxCapacity: 3 } }),
      'production.web.minCapacity (5) must be <= maxCapacity (3)'],
    ['a malformed instance type', one({ worker: { instanceType: 'large' } }),
      'production.worker.instanceType ("large") must be an instance type like "t3.small" (family.size)'],
    ['an invalid VPC CIDR', one({ network: { cidr: '10.300.0.0/16' } }),
      'production.network.cidr ("10.300.0.0/16") must be an IPv4 network in CIDR notation with no host bits set (e.g. 203.0.113.0/24), for the VPC'],
    ['a VPC CIDR with host bits', one({ network: { cidr: '10.30.0.1/16' } }),
      'production.network.cidr ("10.30.0.1/16") must be an IPv4 network in CIDR notation with no host bits set (e.g. 203.0.113.0/24), for the VPC'],
    ['a VPC too small for three subnet tiers', one({ network: { cidr: '10.30.0.0/26' } }),
      'production.network.cidr ("10.30.0.0/26") must have a prefix from /16 to /22 so that 3 subnet tiers fit in every AZ'],
    ['an HTTPS domain without a certificate', one({ domainNames: ['www.mootube.example'], certificateArn: undefined }),
      'production.certificateArn (missing) is required when domainNames are set (www.mootube.example): herd serves a domain over HTTPS only; request an ACM certificate for them'],
    ['an environment name that is not DNS-safe', { app: 'mootube', environments: [{ name: 'Prod_1' }] },
      'Prod_1.name ("Prod_1") must be DNS-safe: 1-32 lower-case letters, digits or hyphens, starting with a letter, not ending with a hyphen'],
    ['no failed instance allowed before a diagnosis', one({ deploy: { maxFailedInstances: 0 } }),
      'production.deploy.maxFailedInstances (0) must be >= 1 instances'],
    ['more failed instances than a diagnosis waits for', one({ deploy: { maxFailedInstances: 51 } }),
      'production.deploy.maxFailedInstances (51) must be <= 50 instances'],
    ['AMI retention below 1', one({ amiRetention: 0 }),
      'production.amiRetention (0) must be >= 1 releases (keep at least the previous release for rollback)'],
    ['an unknown strategy', one({ deploy: { strategy: 'blue-green' } }),
      'production.deploy.strategy ("blue-green") must be one of "rolling", "full"'],
    ['an unknown migration order', one({ deploy: { migrationOrder: 'during' } }),
      'production.deploy.migrationOrder ("during") must be one of "before", "after", "maintenance", "none"'],
    ['migrations in a maintenance window of a rolling deploy', one({ deploy: { strategy: 'rolling', migrationOrder: 'maintenance' } }),
      'production.deploy.migrationOrder ("maintenance") needs deploy.strategy "full" (got "rolling"): only a full deploy has a maintenance window'],
    ['an invalid bypass CIDR', one({ maintenance: { bypassCidrs: ['203.0.113.0/33'] } }),
      'production.maintenance.bypassCidrs.0 ("203.0.113.0/33") must be an IPv4 network in CIDR notation with no host bits set (e.g. 203.0.113.0/24), for a maintenance bypass'],
    ['a negative deregistration delay', one({ loadBalancer: { deregistrationDelaySeconds: -5 } }),
      'production.loadBalancer.deregistrationDelaySeconds (-5) must be >= 0 seconds'],
    ['a negative grace period', one({ healthCheck: { gracePeriodSeconds: -1 } }),
      'production.healthCheck.gracePeriodSeconds (-1) must be >= 0 seconds'],
    ['a slow health check', one({ healthCheck: { intervalSeconds: 30 } }),
      'production.healthCheck.intervalSeconds (30) must be <= 10 seconds (deploys wait for health checks: keep them fast)'],
    ['a health check timeout not below its interval', one({ healthCheck: { intervalSeconds: 5, timeoutSeconds: 5 } }),
      'production.healthCheck.timeoutSeconds (5) must be < intervalSeconds (5)'],
    ['more NAT gateways than AZs', one({ network: { cidr: '10.30.0.0/16', maxAzs: 2, natGateways: 3 } }),
      'production.network.natGateways (3) must be <= maxAzs (2): at most one NAT gateway per AZ'],
    ['launch-before-terminate without room', one({ deploy: { rolling: { minHealthyPercentage: 100, maxHealthyPercentage: 100 } } }),
      'production.deploy.rolling.maxHealthyPercentage (100) must be > 100 when minHealthyPercentage is 100 (launch before terminate needs room)'],
    ['parallelRoles not a boolean', one({ deploy: { rolling: { parallelRoles: 'yes' } } }),
      'production.deploy.rolling.parallelRoles ("yes") must be true or false'],
    ['checkpoints not ending at 100', one({ deploy: { rolling: { checkpointPercentages: [50, 20] } } }),
      'production.deploy.rolling.checkpointPercentages ([50,20]) must increase strictly and end with 100'],
    ['backupBeforeMigrate, which deploy.backup replaced', one({ deploy: { backupBeforeMigrate: true } }),
      'production.deploy.backupBeforeMigrate (true) was replaced by deploy.backup: write backup: "snapshot-wait" for what true did (snapshot and wait before the migration), "snapshot" (point-in-time recovery plus a snapshot alongside the bake, not waited for), "pitr", or "none" for false'],
    ['an unknown backup mode', one({ deploy: { backup: 'dump' } }),
      'production.deploy.backup ("dump") must be one of "none", "pitr", "snapshot", "snapshot-wait"'],
    ['a misspelt key', one({ web: { minCapcity: 2 } }),
      'production.web.minCapcity (2) is not a known setting; check its spelling in the configuration reference'],
    ['an app setting herd already sets', one({ appSettings: { DATABASE_HOST: 'db.example' } }),
      'production.appSettings.DATABASE_HOST ("db.example") is set by herd itself; choose another name'],
    ['an app setting in herd\'s own namespace', one({ appSettings: { HERD_ROLE: 'web' } }),
      'production.appSettings.HERD_ROLE ("web") is set by herd itself; choose another name'],
    ['a certificate from another region', one({ account: '123456789012', region: 'eu-west-1', domainNames: ['mootube.example'], certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/abc-123' }),
      'production.certificateArn ("arn:aws:acm:us-east-1:123456789012:certificate/abc-123") must be in the environment\'s region (eu-west-1), not us-east-1'],
    ['an account without a region', one({ account: '123456789012' }),
      'production.region ("123456789012") must be set together with account, or neither for an environment-agnostic stack'],
    ['a string where a number belongs', one({ web: { maxCapacity: '4' } }),
      'production.web.maxCapacity ("4") must be a number'],
    ['an Enhanced Monitoring interval RDS does not offer', one({ database: { enhancedMonitoringSeconds: 20 } }),
      'production.database.enhancedMonitoringSeconds (20) must be one of 0, 1, 5, 10, 15, 30, 60 seconds (0 turns Enhanced Monitoring off)'],
    ['a CPU alarm above 100 %', one({ alarms: { databaseCpuPercent: 120 } }),
      'production.alarms.databaseCpuPercent (120) must be <= 100 %'],
    ['a free-storage alarm at the whole ceiling', one({ alarms: { databaseFreeStoragePercent: 100 } }),
      'production.alarms.databaseFreeStoragePercent (100) must be <= 99 % of maxAllocatedStorageGiB'],
    ['a cache memory alarm at 0 %', one({ alarms: { cacheMemoryPercent: 0 } }),
      'production.alarms.cacheMemoryPercent (0) must be >= 1 %'],
    ['interface endpoints given as a string', one({ network: { cidr: '10.30.0.0/16', interfaceEndpoints: 'yes' } }),
      'production.network.interfaceEndpoints ("yes") must be true or false'],
    ['a cache token rotated more rarely than Secrets Manager schedules', one({ cache: { rotationDays: 1001 } }),
      'production.cache.rotationDays (1001) must be <= 1000 days (0 turns rotation off)'],
  ])('fails when given %s', (_what, settings, expected) => {
    expect(problemsOf(settings)).toEqual([expected]);
  });

  test('fails when two environments share a name', () => {
    expect(problemsOf({
      app: 'mootube',
      environments: [{ name: 'staging', network: { cidr: '10.1.0.0/16' } }, { name: 'staging', network: { cidr: '10.2.0.0/16' } }],
    })).toEqual(['environments[1].name ("staging") duplicates environments[0]; every environment needs its own name']);
  });

  test('fails when two environments\' networks overlap', () => {
    expect(problemsOf({
      app: 'mootube',
      environments: [{ name: 'staging', network: { cidr: '10.1.0.0/16' } }, { name: 'production', network: { cidr: '10.1.128.0/20' } }],
    })).toEqual(['production.network.cidr ("10.1.128.0/20") overlaps staging.network.cidr (10.1.0.0/16); give each environment its own range']);
  });

  test('fails when the app name is not DNS-safe, or no environment is defined', () => {
    expect(problemsOf({ app: 'Moo Tube', environments: [] })).toEqual([
      'app ("Moo Tube") must be DNS-safe: 1-32 lower-case letters, digits or hyphens, starting with a letter',
      'environments ([]) must define at least one environment',
    ]);
  });

  test('reports every problem of every environment at once', () => {
    const problems = problemsOf({
      app: 'mootube',
      environments: [
        { name: 'testing', network: { cidr: '10.10.0.0/16' }, web: { minCapacity: 3, maxCapacity: 2 }, amiRetention: 0 },
        { name: 'production', network: { cidr: '10.10.0.0/16' }, deploy: { strategy: 'canary' }, maintenance: { bypassCidrs: ['nope'] } },
      ],
    });
    expect(problems).toEqual([
      'testing.amiRetention (0) must be >= 1 releases (keep at least the previous release for rollback)',
      'testing.web.minCapacity (3) must be <= maxCapacity (2)',
      'production.deploy.strategy ("canary") must be one of "rolling", "full"',
      'production.maintenance.bypassCidrs.0 ("nope") must be an IPv4 network in CIDR notation with no host bits set (e.g. 203.0.113.0/24), for a maintenance bypass',
      'production.network.cidr ("10.10.0.0/16") overlaps testing.network.cidr (10.10.0.0/16); give each environment its own range',
    ]);
  });

  test('reports cross-field problems of environments whose fields are valid', () => {
    const problems = problemsOf({
      app: 'mootube',
      environments: [
        { name: 'testing', network: { cidr: '10.10.0.0/16' }, web: { minCapacity: 3, maxCapacity: 2 } },
        { name: 'staging', network: { cidr: '10.10.0.0/16' }, database: { allocatedStorageGiB: 100, maxAllocatedStorageGiB: 50 } },
      ],
    });
    expect(problems).toEqual([
      'testing.web.minCapacity (3) must be <= maxCapacity (2)',
      'staging.database.maxAllocatedStorageGiB (50) must be >= allocatedStorageGiB (100)',
      'staging.network.cidr ("10.10.0.0/16") overlaps testing.network.cidr (10.10.0.0/16); give each environment its own range',
    ]);
  });

  test('the error message lists every problem and says nothing was synthesized', () => {
    expect(() => resolveConfig(one({ amiRetention: 0, web: { minCapacity: 9 } }))).toThrow(
      'herd configuration has 2 problems; nothing was synthesized:\n' +
      '  - production.amiRetention (0) must be >= 1 releases (keep at least the previous release for rollback)\n' +
      '  - production.web.minCapacity (9) must be <= maxCapacity (6)',
    );
  });
});

describe('TLS or nothing in production', () => {
  test('a production environment without a certificate is refused, with the other problems, saying how to fix it', () => {
    expect(problemsOf(one({ certificateArn: undefined, amiRetention: 0 }))).toEqual([
      'production.amiRetention (0) must be >= 1 releases (keep at least the previous release for rollback)',
      'production.certificateArn (missing) is required for a production environment: without TLS, session cookies, logins and the maintenance bypass header cross the internet in clear text. ' +
        'Set certificateArn to an ACM certificate of the environment\'s region, or, if plain HTTP is really acceptable here, say why with allowPlainHttp: { reason: "…" }',
    ]);
  });

  test('plain HTTP is accepted only with a reason of at least 10 characters', () => {
    const plain = (allowPlainHttp: unknown) => one({ certificateArn: undefined, allowPlainHttp });
    expect(problemsOf(plain({ reason: 'TLS ends at the CDN in front of this load balancer' }))).toEqual([]);
    expect(problemsOf(plain({ reason: 'because' }))).toEqual([
      'production.allowPlainHttp.reason ("because") must say why this environment may serve plain HTTP in at least 10 characters, e.g. "TLS ends at the CDN in front of it"',
    ]);
    expect(problemsOf(plain({ reason: '          ' }))).toHaveLength(1);
    expect(problemsOf(plain(true))).toEqual(['production.allowPlainHttp (true) must be { reason: "<why plain HTTP is acceptable here>" }']);
    expect(problemsOf(plain({}))).toEqual([
      'production.allowPlainHttp.reason (missing) must be a string saying why this environment may serve plain HTTP (at least 10 characters)',
    ]);
  });

  test('allowPlainHttp beside a certificate is refused (it would mean nothing)', () => {
    expect(problemsOf(one({ allowPlainHttp: { reason: 'TLS ends at the CDN in front of it' } }))).toEqual([
      'production.allowPlainHttp ({"reason":"TLS ends at the CDN in front of it"}) has no effect with a certificateArn (the site is served over HTTPS, HTTP only redirects): remove it',
    ]);
  });

  test('a small environment may still serve plain HTTP (the synthesis warns)', () => {
    expect(problemsOf({ app: 'mootube', environments: [{ name: 'staging', profile: 'small' }] })).toEqual([]);
  });
});

describe('the web application firewall and deletion protection', () => {
  test('are on by default for production only', () => {
    const [production, staging] = resolveConfig({
      app: 'mootube',
      environments: [
        { name: 'production', profile: 'production', certificateArn: CERTIFICATE, network: { cidr: '10.30.0.0/16' } },
        { name: 'staging', profile: 'small', network: { cidr: '10.20.0.0/16' } },
      ],
    }).environments;
    expect(production!.waf).toEqual({
      enabled: true,
      rateLimitPer5Minutes: 2000,
      countOnly: false,
      managedRules: ['AWSManagedRulesCommonRuleSet', 'AWSManagedRulesKnownBadInputsRuleSet', 'AWSManagedRulesAmazonIpReputationList'],
      excludedRules: [],
    });
    expect(production!.loadBalancer.deletionProtection).toBe(true);
    expect(staging!.waf.enabled).toBe(false);
    expect(staging!.loadBalancer.deletionProtection).toBe(false);
  });

  test.each<[string, Record<string, unknown>, string]>([
    ['a rate limit below AWS WAF\'s minimum', { waf: { rateLimitPer5Minutes: 9 } }, 'production.waf.rateLimitPer5Minutes (9) must be >= 10 requests per client IP in 5 minutes (AWS WAF rate-based rule limits)'],
    ['a rate limit above AWS WAF\'s maximum', { waf: { rateLimitPer5Minutes: 2_000_000_001 } }, 'production.waf.rateLimitPer5Minutes (2000000001) must be <= 2000000000 requests per client IP in 5 minutes (AWS WAF rate-based rule limits)'],
    ['an unknown managed rule group', { waf: { managedRules: ['AWSManagedRulesSQLiRuleSet'] } }, 'production.waf.managedRules.0 ("AWSManagedRulesSQLiRuleSet") must be one of "AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesAmazonIpReputationList"'],
    ['a rule group listed twice', { waf: { managedRules: ['AWSManagedRulesCommonRuleSet', 'AWSManagedRulesCommonRuleSet'] } }, 'production.waf.managedRules (["AWSManagedRulesCommonRuleSet","AWSManagedRulesCommonRuleSet"]) must not list a rule group twice'],
    ['an excluded rule without its group', { waf: { excludedRules: ['SizeRestrictions_BODY'] } }, 'production.waf.excludedRules.0 ("SizeRestrictions_BODY") must be "<rule group>:<rule name>", e.g. "AWSManagedRulesCommonRuleSet:SizeRestrictions_BODY"'],
    ['an excluded rule of a group not evaluated', { waf: { managedRules: ['AWSManagedRulesKnownBadInputsRuleSet'], excludedRules: ['AWSManagedRulesCommonRuleSet:SizeRestrictions_BODY'] } },
      'production.waf.excludedRules.0 ("AWSManagedRulesCommonRuleSet:SizeRestrictions_BODY") names a rule group that waf.managedRules does not list (AWSManagedRulesKnownBadInputsRuleSet); known groups: AWSManagedRulesCommonRuleSet, AWSManagedRulesKnownBadInputsRuleSet, AWSManagedRulesAmazonIpReputationList'],
    ['count-only that is not a boolean', { waf: { countOnly: 'yes' } }, 'production.waf.countOnly ("yes") must be true or false'],
    ['enabled that is not a boolean', { waf: { enabled: 1 } }, 'production.waf.enabled (1) must be true or false'],
    ['an unknown firewall setting', { waf: { rateLimit: 100 } }, 'production.waf.rateLimit (100) is not a known setting; check its spelling in the configuration reference'],
    ['deletion protection that is not a boolean', { loadBalancer: { deletionProtection: 'off' } }, 'production.loadBalancer.deletionProtection ("off") must be true or false'],
  ])('refuses %s', (_what, overrides, expected) => {
    expect(problemsOf(one(overrides))).toEqual([expected]);
  });

  test('accepts an upload-friendly Common Rule Set and count-only mode', () => {
    expect(problemsOf(one({ waf: { countOnly: true, rateLimitPer5Minutes: 10, excludedRules: ['AWSManagedRulesCommonRuleSet:SizeRestrictions_BODY'] }, loadBalancer: { deletionProtection: false } }))).toEqual([]);
  });
});
