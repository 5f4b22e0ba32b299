/**
 * What one execution of the deploy state machine may cost Step Functions, at worst, for a
 * deploy configuration: history events (an execution fails at 25,000, and no Catch runs)
 * and duration (an execution fails at the state machine's `TimeoutSeconds`, no Catch
 * either). The CDK state machine takes its timeout from here, and a test proves that the
 * largest configuration validation accepts stays within both limits, with margin.
 *
 * The worst case: every wait of the longest path lasts until its deadline, polled as the
 * steps poll (`pollSeconds`: the base interval, then a tenth of the time waited, at most
 * 10 minutes), and the last wait times out, so compensation waits its longest too; on top,
 * an allowance of throttling storms and of Lambda failures retried by Step Functions.
 *
 * Events per state, as a Standard workflow records them: a Lambda task that succeeds 5
 * (TaskStateEntered, LambdaFunctionScheduled/Started/Succeeded, TaskStateExited), each
 * failed attempt 3 more; a Choice 2; a Wait 2; the execution's start and end 1 each.
 */
import { SETTLE_POLL_SECONDS, STAGE_POLL_SECONDS } from './switch';
import { SNAPSHOT_CHECK_SECONDS } from './backups';
import { FIRST_BACKUP_POLL_SECONDS } from './restore-point';
import type { DeployConfig, DeployStrategy } from '../../lib/config/types';
import { ADVANCE_RETRY } from './contract';
import { fastPollAllowance } from './diagnose';
import { PERSISTENT_BACKOFF_MAX_SECONDS, PERSISTENT_RETRY_MINUTES } from './retries';
import { BASE_MAX_POLL_SECONDS, BASE_POLL_SECONDS } from './bake';
import { MAX_POLL_SECONDS, POLL_GROWTH, pollSeconds } from './step';

/** Step Functions fails a Standard execution at this many history events. */
export const STEP_FUNCTIONS_HISTORY_LIMIT = 25_000;

/** History events one state adds, by type. */
export const HISTORY_EVENTS = {
  task: 5,
  failedAttempt: 3,
  choice: 2,
  wait: 2,
  execution: 2,
  end: 3,
} as const;

/** One advance that asks to run again after a wait: Task, Choice, Wait. */
export const EVENTS_PER_POLL = HISTORY_EVENTS.task + HISTORY_EVENTS.choice + HISTORY_EVENTS.wait;
/** One advance that moves on at once (waitSeconds 0): Task, Choice. */
export const EVENTS_PER_STEP = HISTORY_EVENTS.task + HISTORY_EVENTS.choice;

/** Minutes the deploy step waits for SSM to show the release parameters it wrote (`release.ts`). */
export const PARAMETER_WAIT_MINUTES = 5;
/** Minutes the verification waits for every target to be healthy on the new image (`rollout.ts`). */
export const VERIFY_MINUTES = 5;

/** Advance calls that move on at once, along the longest path (every stage and compensation step, per role). */
const FORWARD_STEPS = 80;
/** Throttling storms allowed for: this many steps each backing off the most times in a row (`MAX_TRANSIENT_ERRORS`). */
const THROTTLED_STEPS = 10;
const TRANSIENT_BACKOFFS = 12;
const TRANSIENT_BACKOFF_SECONDS = 60;
/**
 * An outage compensation or bookkeeping rides out (`retries.ts`): this many steps each
 * retrying a transient error for the whole `PERSISTENT_RETRY_MINUTES`.
 */
const PERSISTENT_OUTAGE_STEPS = 3;
/** Lambda failures allowed for: each retried by the state machine until caught, then a 30 s backoff. */
const LAMBDA_FAILURES = 10;
const BACKOFF_AFTER_ERROR_SECONDS = 30;
/** Seconds one advance call may take (the Lambda's timeout). */
const ADVANCE_SECONDS = 120;

export interface Wait {
  readonly step: string;
  readonly minutes: number;
  readonly baseSeconds: number;
  /** Longest interval between polls (default `MAX_POLL_SECONDS`). */
  readonly maxSeconds?: number;
}

export interface WaitCost {
  readonly polls: number;
  /** The wait's deadline plus the one poll that may overshoot it. */
  readonly seconds: number;
}

/** Polls a wait of at most `minutes` costs before its deadline fails it, polled as the steps poll. */
export function waitCost(minutes: number, baseSeconds: number, maxSeconds = MAX_POLL_SECONDS): WaitCost {
  const deadline = minutes * 60;
  let elapsed = 0;
  let polls = 0;
  let last = 0;
  while (elapsed < deadline) {
    last = pollSeconds(baseSeconds, elapsed, maxSeconds);
    elapsed += last;
    polls += 1;
  }
  // The poll that finds the deadline passed fails the step: one more advance, no wait.
  return { polls, seconds: deadline + last };
}

/**
 * Minutes the old workers get to stop (Auto Scaling terminates them; EC2 shuts an instance
 * down in a minute or two): a wait bounded well under the rollout timeout, as it happens
 * right before the page goes up (`switch.ts`).
 */
export const WORKER_STOP_MINUTES = 10;

/** The waits of the longest path of a strategy, forward then compensation, in order. */
export function longestPath(deploy: DeployConfig, strategy: DeployStrategy): Wait[] {
  const t = deploy.timeouts;
  // Layered bake at its longest: another deploy's base waited for until it fails, the base
  // baked here (its builder, its image), then the release on it.
  const bake: Wait[] = [
    { step: 'bake.waitBase', minutes: t.imageMinutes, baseSeconds: BASE_POLL_SECONDS, maxSeconds: BASE_MAX_POLL_SECONDS },
    { step: 'bake.waitBuilder (base)', minutes: t.bakeMinutes, baseSeconds: BASE_POLL_SECONDS, maxSeconds: BASE_MAX_POLL_SECONDS },
    { step: 'bake.waitImage (base)', minutes: t.imageMinutes, baseSeconds: BASE_POLL_SECONDS, maxSeconds: BASE_MAX_POLL_SECONDS },
    { step: 'bake.waitBuilder', minutes: t.bakeMinutes, baseSeconds: 15 },
    { step: 'bake.waitImage', minutes: t.imageMinutes, baseSeconds: 20 },
    { step: 'launchTemplate.waitParameters', minutes: PARAMETER_WAIT_MINUTES, baseSeconds: 5 },
  ];
  // The backup before the migration (`deploy.backup`): snapshot-wait waits for the database, then
  // its snapshot; pitr and snapshot at most for a first automated backup, and snapshot checks its
  // snapshot (started alongside the bake) in `record`. Unknown (an older environment): the longest.
  const backup: Wait[] = deploy.backup === 'none' ? []
    : deploy.backup === 'pitr' ? [{ step: 'migrate.restorePoint', minutes: t.migrateMinutes, baseSeconds: FIRST_BACKUP_POLL_SECONDS }]
    : deploy.backup === 'snapshot' ? [
      { step: 'migrate.restorePoint', minutes: t.migrateMinutes, baseSeconds: FIRST_BACKUP_POLL_SECONDS },
      { step: 'record.snapshot', minutes: t.migrateMinutes, baseSeconds: SNAPSHOT_CHECK_SECONDS },
    ]
    : [
      { step: 'migrate.waitDatabase', minutes: t.migrateMinutes, baseSeconds: 30 },
      { step: 'migrate.waitSnapshot', minutes: t.migrateMinutes, baseSeconds: 30 },
    ];
  const migrate: Wait[] = [
    ...backup,
    { step: 'migrate.waitRunner', minutes: t.migrateMinutes, baseSeconds: 10 },
  ];
  const roles = ['web', 'worker'];
  const rollout: Wait[] = strategy === 'rolling'
    ? roles.flatMap((role) => [
      { step: `refresh.wait (${role})`, minutes: t.rolloutMinutes, baseSeconds: 15 },
      { step: `refresh.waitFloor (${role})`, minutes: t.rolloutMinutes, baseSeconds: 10 },
    ])
    : [
      // Staged (`switch.ts`): the new web fleet in the staging group, the old workers stopping,
      // the new fleet into its groups; the longest of either `full` path (without staging: replace.waitNew).
      { step: 'stage.waitNew', minutes: t.rolloutMinutes, baseSeconds: STAGE_POLL_SECONDS },
      { step: 'stage.waitWorkersStopped', minutes: WORKER_STOP_MINUTES, baseSeconds: 5 },
      { step: 'settle.waitActive', minutes: t.rolloutMinutes, baseSeconds: SETTLE_POLL_SECONDS },
      // The hold polls every minute at most, until it ends.
      { step: 'hold.wait', minutes: deploy.holdMaintenanceMinutes, baseSeconds: 60 },
    ];
  const verify: Wait[] = [
    { step: 'verify.targets', minutes: VERIFY_MINUTES, baseSeconds: 10 },
    // The alarm watch looks every 30 s until it ends.
    { step: 'verify.watch', minutes: deploy.alarmWatchMinutes ?? 0, baseSeconds: 30 },
  ];
  const compensation: Wait[] = [
    // A staged `full` deploy's compensation waits for the settle (old web retiring) or for the old workers (before), never both.
    // Only a rolling deploy moves a group to its floor (`state.floors`, `refresh.floor`): a full one never waits for it back.
    ...(strategy === 'full'
      ? [{ step: 'compensate.settle', minutes: t.rolloutMinutes, baseSeconds: SETTLE_POLL_SECONDS }]
      : [{ step: 'compensate.waitFloor', minutes: t.rolloutMinutes, baseSeconds: 15 }]),
    { step: 'compensate.waitRefresh', minutes: t.rolloutMinutes, baseSeconds: 15 },
    { step: 'compensate.waitParameters', minutes: PARAMETER_WAIT_MINUTES, baseSeconds: 5 },
  ];
  return [...bake, ...migrate, ...rollout, ...verify, ...compensation].filter((w) => w.minutes > 0);
}

export interface WorstCase {
  readonly strategy: DeployStrategy;
  readonly events: number;
  readonly seconds: number;
  readonly waits: readonly (Wait & WaitCost)[];
}

/** Tries (and seconds) of one compensation or bookkeeping step retrying a transient error for as long as it may. */
function persistentRetryCost(): WaitCost {
  let elapsed = 0;
  let polls = 0;
  for (let attempt = 1; elapsed < PERSISTENT_RETRY_MINUTES * 60; attempt++) {
    elapsed += Math.min(PERSISTENT_BACKOFF_MAX_SECONDS, 15 * 2 ** Math.min(attempt - 1, 5));
    polls += 1;
  }
  return { polls, seconds: elapsed };
}

/** A wait that polls every `everySeconds` until it ends (the hold, the alarm watch). */
function fixedCost(minutes: number, everySeconds: number): WaitCost {
  return { polls: Math.ceil((minutes * 60) / everySeconds), seconds: minutes * 60 };
}

/** The worst case of one strategy. */
export function worstCaseOf(deploy: DeployConfig, strategy: DeployStrategy): WorstCase {
  const waits = longestPath(deploy, strategy).map((w) => ({
    ...w,
    ...(w.step === 'hold.wait' ? fixedCost(w.minutes, 60) : w.step === 'verify.watch' ? fixedCost(w.minutes, 30) : waitCost(w.minutes, w.baseSeconds, w.maxSeconds)),
  }));
  // While new instances fail their health check, waits poll faster (`diagnose.ts`), a bounded number of times.
  const polls = waits.reduce((n, w) => n + w.polls, 0) + fastPollAllowance(deploy.maxFailedInstances);
  const waited = waits.reduce((n, w) => n + w.seconds, 0);
  const retries = ADVANCE_RETRY.maxAttempts;
  const lambdaFailureEvents = HISTORY_EVENTS.task + retries * HISTORY_EVENTS.failedAttempt + HISTORY_EVENTS.wait;
  const lambdaFailureSeconds = retries * ADVANCE_SECONDS + Array.from({ length: retries }, (_, i) => ADVANCE_RETRY.intervalSeconds * ADVANCE_RETRY.backoffRate ** i).reduce((a, b) => a + b, 0) + BACKOFF_AFTER_ERROR_SECONDS;
  const outage = persistentRetryCost();
  const events =
    PERSISTENT_OUTAGE_STEPS * outage.polls * EVENTS_PER_POLL +
    HISTORY_EVENTS.execution +
    HISTORY_EVENTS.end +
    polls * EVENTS_PER_POLL +
    (FORWARD_STEPS + waits.length) * EVENTS_PER_STEP +
    THROTTLED_STEPS * TRANSIENT_BACKOFFS * EVENTS_PER_POLL +
    LAMBDA_FAILURES * lambdaFailureEvents;
  const seconds =
    PERSISTENT_OUTAGE_STEPS * (outage.seconds + outage.polls * ADVANCE_SECONDS) +
    waited +
    (polls + FORWARD_STEPS + waits.length) * ADVANCE_SECONDS +
    THROTTLED_STEPS * TRANSIENT_BACKOFFS * TRANSIENT_BACKOFF_SECONDS +
    LAMBDA_FAILURES * lambdaFailureSeconds;
  return { strategy, events, seconds, waits };
}

/** The worse of both strategies: a deploy may ask for either. */
export function worstCase(deploy: DeployConfig): WorstCase {
  const rolling = worstCaseOf(deploy, 'rolling');
  const full = worstCaseOf(deploy, 'full');
  return rolling.events >= full.events ? { ...rolling, seconds: Math.max(rolling.seconds, full.seconds) } : { ...full, seconds: Math.max(rolling.seconds, full.seconds) };
}

/**
 * The state machine's `TimeoutSeconds`: the worst case plus a quarter, so a deploy that
 * ever reaches it is stuck beyond any deadline of its own (and the reaper compensates it).
 */
export function stateMachineTimeoutSeconds(deploy: DeployConfig): number {
  return Math.ceil((worstCase(deploy).seconds * 1.25) / 60) * 60;
}

/** Documentation of the polling policy, for messages and docs. */
export const POLLING = { maxPollSeconds: MAX_POLL_SECONDS, growth: POLL_GROWTH } as const;
