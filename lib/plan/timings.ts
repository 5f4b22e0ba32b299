/**
 * Timing parameters of a modelled deploy: how long the processes the deploy step waits on
 * take (boot, bake, image, migration, health checks…). Each value carries where it came
 * from: a documented default (`DEFAULT_TIMINGS`, with its source), the environment's
 * configuration (health check, grace, deregistration delay), an override, or the
 * environment's deploy history (`deriveFromHistory`).
 */
import type { FakeTimings } from '../simulation/fake-cloud';
import type { EnvironmentConfig } from '../config/types';
import type { HistoryItem } from '../../lambda/deploy/lock';

export type TimingName = keyof FakeTimings;

/** Where a timing parameter's value comes from. */
export type TimingOrigin = 'default' | 'config' | 'history' | 'override';

export interface TimingParameter {
  readonly value: number;
  readonly origin: TimingOrigin;
  /** Human-readable source: the measurement, the config key, the history median. */
  readonly source: string;
  /** Where the default's figure can be checked: AWS documentation or a published measurement. */
  readonly reference?: string;
}

export type TimingTable = Readonly<Record<TimingName, TimingParameter>>;

const def = (value: number, source: string, reference?: string): TimingParameter => ({ value, origin: 'default', source, ...(reference ? { reference } : {}) });

/** Published sources of the defaults (AWS documentation, measurements others published). */
export const TIMING_REFERENCES = {
  bootBench: 'http://www.daemonology.net/blog/2021-08-12-EC2-boot-time-benchmarking.html',
  launchTimes2023: 'https://www.martysweet.co.uk/ec2-launch-times/',
  amiCreation: 'https://repost.aws/knowledge-center/ebs-snapshot-ec2-ami-creation-slow',
  rdsSnapshot: 'https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_CreateSnapshot.html',
  albHealthChecks: 'https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html',
  albDeregistration: 'https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html#deregistration-delay',
  asgGracePeriod: 'https://docs.aws.amazon.com/autoscaling/ec2/userguide/health-check-grace-period.html',
  amiParameter: 'https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-ec2-aliases.html',
  instanceLifecycle: 'https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-lifecycle.html',
} as const;

/**
 * Documented defaults, used when neither the configuration nor the history says better.
 * Each names its source (the plan prints `<origin>: <source>`) and, where one exists, a
 * `reference` to check it against: AWS documentation for what AWS specifies (health checks,
 * deregistration, grace period), published measurements for what AWS does not (boot), and
 * says `assumption` where neither gives a figure (AMI and snapshot times depend on the data
 * changed). `npm run bench` measures the real bake script on `examples/mootube` next to the
 * modelled bake. Sources name no file outside this repository.
 */
export const DEFAULT_TIMINGS: TimingTable = {
  bootSeconds: def(26, 'published: RunInstances to SSH open ≈ 29 s for a Linux AMI (ec2-boot-bench, 2021); AL2023 the fastest general-purpose AMI to boot (2023)', TIMING_REFERENCES.bootBench),
  appStartSeconds: def(8, 'assumption: herd-boot reads parameters and secrets, the web process binds $PORT'),
  bakeSeconds: def(120, 'assumption: the release part of a bake on a base image (boot, artifact download, install, herd/build), builder launch to report; the bench runs the real bake script on examples/mootube'),
  provisionSeconds: def(150, 'assumption: herd\'s instance setup (dnf install of the CloudWatch agent) and herd/provision (OS packages); only a base image bakes them'),
  imageSeconds: def(150, 'assumption: an AMI is a snapshot of the builder\'s root volume; the first snapshot of a volume copies every written block, so "minutes"', TIMING_REFERENCES.amiCreation),
  migrationSeconds: def(20, 'measured: the Fabric deploy herd replaces migrated in 12 s, plus herd-boot on the runner ≈ app start 8 s'),
  dbSnapshotSeconds: def(90, 'assumption: RDS says snapshot time "varies with the size of your databases" (the seed\'s pg_dump took 15 s)', TIMING_REFERENCES.rdsSnapshot),
  shutdownSeconds: def(10, 'assumption: shutting-down to terminated', TIMING_REFERENCES.instanceLifecycle),
  healthCheckIntervalSeconds: def(10, 'healthCheck.intervalSeconds of herd (the ALB\'s own 30 s is too slow)', TIMING_REFERENCES.albHealthChecks),
  initialHealthyChecks: def(1, 'AWS: a newly registered target "must pass one health check to be considered healthy"', TIMING_REFERENCES.albHealthChecks),
  healthyThreshold: def(2, 'healthCheck.healthyThreshold of herd', TIMING_REFERENCES.albHealthChecks),
  unhealthyThreshold: def(3, 'healthCheck.unhealthyThreshold of herd', TIMING_REFERENCES.albHealthChecks),
  healthCheckGracePeriodSeconds: def(180, 'healthCheck.gracePeriodSeconds of herd', TIMING_REFERENCES.asgGracePeriod),
  deregistrationDelaySeconds: def(30, 'loadBalancer.deregistrationDelaySeconds of herd (the ALB\'s own is 300 s)', TIMING_REFERENCES.albDeregistration),
  imageParameterSeconds: def(3, 'assumption: SSM validates an aws:ec2:image parameter asynchronously, in seconds', TIMING_REFERENCES.amiParameter),
};

export const TIMING_NAMES = Object.keys(DEFAULT_TIMINGS) as TimingName[];

/** Plain values of a table, as the fake cloud takes them. */
export function timingValues(table: TimingTable): FakeTimings {
  const out = {} as Record<TimingName, number>;
  for (const name of TIMING_NAMES) out[name] = table[name].value;
  return out;
}

/** `base` with `values` replacing some parameters, each marked with `origin`/`source`. */
export function withTimings(base: TimingTable, values: Partial<FakeTimings>, origin: TimingOrigin, source: (name: TimingName) => string): TimingTable {
  const out: Record<TimingName, TimingParameter> = { ...base };
  for (const name of TIMING_NAMES) {
    const v = values[name];
    if (v !== undefined) out[name] = { value: v, origin, source: source(name) };
  }
  return out;
}

/** The defaults with the environment's own health-check and load-balancer settings. */
export function timingsFromConfig(config: Pick<EnvironmentConfig, 'healthCheck' | 'loadBalancer'>, base: TimingTable = DEFAULT_TIMINGS): TimingTable {
  const keys: Partial<Record<TimingName, string>> = {
    healthCheckIntervalSeconds: 'healthCheck.intervalSeconds',
    healthyThreshold: 'healthCheck.healthyThreshold',
    unhealthyThreshold: 'healthCheck.unhealthyThreshold',
    healthCheckGracePeriodSeconds: 'healthCheck.gracePeriodSeconds',
    deregistrationDelaySeconds: 'loadBalancer.deregistrationDelaySeconds',
  };
  return withTimings(
    base,
    {
      healthCheckIntervalSeconds: config.healthCheck.intervalSeconds,
      healthyThreshold: config.healthCheck.healthyThreshold,
      unhealthyThreshold: config.healthCheck.unhealthyThreshold,
      healthCheckGracePeriodSeconds: config.healthCheck.gracePeriodSeconds,
      deregistrationDelaySeconds: config.loadBalancer.deregistrationDelaySeconds,
    },
    'config',
    (name) => keys[name] ?? name,
  );
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Phases whose history medians set a parameter. */
export type CalibratedPhase = 'bake' | 'migrate' | 'rollout';

export interface PhaseMedian {
  readonly phase: CalibratedPhase;
  readonly seconds: number;
  /** Deploys the median is taken over. */
  readonly deploys: number;
}

/** Seconds of `phase` in one history item (a phase may appear more than once: rolling with migrations after, full). */
export function phaseSeconds(item: Pick<HistoryItem, 'phases'>, phase: string): number | undefined {
  const parts = item.phases.filter((p) => p.phase === phase);
  return parts.length === 0 ? undefined : parts.reduce((sum, p) => sum + p.seconds, 0);
}

/**
 * Median seconds per calibrated phase over the successful deploys of the history:
 * - `bake`: deploys (and bake-only runs) that baked their image (`reusedImage` false);
 * - `migrate`: deploys with a migrate phase (a Procfile `release:`, order not `none`);
 * - `rollout`: deploys of the same strategy as the one planned.
 */
export function historyMedians(history: readonly HistoryItem[], strategy: string): PhaseMedian[] {
  const baked = history.filter((h) => h.status === 'succeeded');
  // Bake-only runs (`herd bake`, `mode: bake`) teach the bake time, nothing else.
  const ok = baked.filter((h) => (h as { readonly mode?: string }).mode !== 'bake');
  const pick = (phase: CalibratedPhase, items: readonly HistoryItem[]): PhaseMedian | undefined => {
    const seconds = items.map((h) => phaseSeconds(h, phase)).filter((s): s is number => s !== undefined && s > 0);
    const m = median(seconds);
    return m === undefined ? undefined : { phase, seconds: m, deploys: seconds.length };
  };
  return [
    pick('bake', baked.filter((h) => h.reusedImage === false)),
    pick('migrate', ok),
    pick('rollout', ok.filter((h) => h.strategy === strategy)),
  ].filter((m): m is PhaseMedian => m !== undefined);
}
