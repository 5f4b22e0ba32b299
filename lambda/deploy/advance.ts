/**
 * The deploy step's state machine. `startDeploy` turns the Step Functions input into the
 * first state; each `advance` call runs ONE short step and returns the next state, whose
 * `waitSeconds` tells the state machine how long to wait before calling again, until
 * `done`. Failures (including timeouts) switch to compensation, itself a list of steps.
 *
 * Throttling and 5xx errors leave the state unchanged and ask for a backoff wait; every
 * step is idempotent, so repeating one (after a throttle, or a Lambda retried after its
 * side effect) converges.
 */
import { randomBytes } from 'node:crypto';
import { acquireLock, historyItem, releaseLock, writeHistory } from './lock';
import { BAKE_STEPS } from './bake';
import { BACKUP_STEPS } from './backups';
import { janitor } from './janitor';
import type { Clock } from './clients';
import { COMPENSATION_STEPS, compensationSteps } from './compensate';
import type { DeployEnvironment } from './environment';
import { DeployLockedError, EnvironmentBusyError, InvalidDeployInputError, PreflightError, describeError, isTransient } from './errors';
import { notSent, notifyDeploy } from './notify';
import { preflight, preflightMessage } from './preflight';
import { readParameter } from './release';
import { NO_RELEASE, parameterNames } from '../../lib/names';
import { failureCause, isPersistent, retryAfter } from './retries';
import { RECORD_STEPS } from './record';
import { RELEASE_STEPS } from './release';
import { RESTORE_POINT_STEPS } from './restore-point';
import { ROLLOUT_STEPS } from './rollout';
import { SWITCH_STEPS } from './switch';
import { DIAGNOSE_STEPS } from './diagnose';
import { checkStackSettled } from './stack';
import { BAKE_ONLY_STAGES, FIRST_STEP, RESTART_STAGES, STATE_KIND, phaseOf, planStages, type DeployInput, type DeployOutcome, type DeployState, type Phase } from './state';
import type { AdvanceContext, Step, StepResult } from './step';

/**
 * Takes the lock; the stack must be settled (a stack update that starts later sees the lock,
 * through its deploy guard). A refusal releases the lock and changes nothing.
 */
const lockStep: Step = async (state, ctx) => {
  await acquireLock(ctx.clients, ctx.env.tableName, state);
  try {
    await checkStackSettled(ctx);
  } catch (err) {
    if (err instanceof EnvironmentBusyError) await releaseLock(ctx.clients, ctx.env.tableName, state.deployId);
    throw err;
  }
  return { goto: 'lock.preflight' };
};

/**
 * Before any side effect: a release that serves already ends the deploy as `unchanged`
 * (unless `force`), and the pre-flight checks must pass (`preflight.ts`); a refusal releases
 * the lock and changes nothing. Then the deploy is recorded as running.
 */
const preflightStep: Step = async (state, ctx) => {
  try {
    if (state.mode === 'restart') {
      // A restart replaces the instances of the release that serves, as the caller saw it serve.
      const serving = await readParameter(ctx, parameterNames(state.app, state.env).currentRelease);
      if (serving !== state.release) {
        throw new PreflightError(preflightMessage(state.env, [{ check: 'release', message: serving === undefined || serving === NO_RELEASE
          ? `nothing serves on ${state.env} yet: there is nothing to restart (deploy a release first)`
          : `release ${serving} serves on ${state.env} now, not ${state.release}: run the restart again` }]));
      }
    } else if (state.mode !== 'bake' && !state.force && (await readParameter(ctx, parameterNames(state.app, state.env).currentRelease)) === state.release) {
      await releaseLock(ctx.clients, ctx.env.tableName, state.deployId);
      state.warnings.push(`release ${state.release} already serves on ${state.env}: nothing to do (deploy again with force to replace every instance)`);
      const unsent = await notifyDeploy(ctx.clients, ctx.env, { ...state, outcome: 'unchanged' }, 'unchanged', ctx.clock.now());
      if (unsent) state.warnings.push(unsent);
      return { end: 'unchanged' };
    }
    const { problems, ignoredAlarms, before } = await preflight(ctx, state);
    if (problems.length > 0) throw new PreflightError(preflightMessage(state.env, problems));
    if (before) state.before = before;
    if (ignoredAlarms.length > 0) {
      state.ignoredAlarms = [...ignoredAlarms];
      state.warnings.push(`started with alarm(s) in ALARM, as asked (ignoreAlarms): ${ignoredAlarms.join(', ')}`);
    }
  } catch (err) {
    if (err instanceof PreflightError) await releaseLock(ctx.clients, ctx.env.tableName, state.deployId);
    throw err;
  }
  await writeHistory(ctx.clients, ctx.env.tableName, historyItem(state, ctx.clock.now(), 'running'));
  return { goto: 'lock.notify' };
};

/** Tells the team the deploy started (a notification never fails a deploy: `notifyDeploy`). */
const notifyStart: Step = async (state, ctx) => {
  const unsent = await notifyDeploy(ctx.clients, ctx.env, state, 'started', ctx.clock.now(), { retryTransient: true });
  if (unsent) state.warnings.push(unsent);
  return { goto: 'lock.janitor' };
};

const STEPS: Record<string, Step> = {
  'lock.acquire': lockStep,
  'lock.preflight': preflightStep,
  'lock.notify': notifyStart,
  'lock.janitor': janitor,
  ...BACKUP_STEPS,
  ...BAKE_STEPS,
  ...RELEASE_STEPS,
  ...RESTORE_POINT_STEPS,
  ...ROLLOUT_STEPS,
  ...SWITCH_STEPS,
  ...DIAGNOSE_STEPS,
  ...RECORD_STEPS,
  ...COMPENSATION_STEPS,
};

/** Every step a deploy can be at (generated fault schedules pick among them). */
export const STEP_NAMES: readonly string[] = Object.keys(STEPS);

/** A fresh deploy id: sortable time plus randomness, usable as a Step Functions execution name. */
export function newDeployId(now: number): string {
  const t = new Date(now).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${t}-${randomBytes(3).toString('hex')}`;
}

/** The first state of a deploy (no side effect). */
export function startDeploy(input: DeployInput, env: DeployEnvironment, clock: Clock): DeployState {
  const now = clock.now();
  const restart = input.mode === 'restart';
  // A restart is always an instance refresh of the serving release, without migration.
  const strategy = restart ? 'rolling' : (input.strategy ?? env.deploy.strategy);
  let migrationOrder = restart ? 'none' : (input.migrationOrder ?? env.deploy.migrationOrder);
  // A `maintenance` default only makes sense for `full`; a rolling deploy then migrates first.
  if (strategy === 'rolling' && migrationOrder === 'maintenance' && input.migrationOrder === undefined) migrationOrder = 'before';
  const bakeOnly = input.mode === 'bake';
  const plan = bakeOnly ? [...BAKE_ONLY_STAGES] : restart ? [...RESTART_STAGES] : planStages(strategy, migrationOrder, env.loadBalancer.stagingTargetGroupArn !== undefined);
  return {
    kind: STATE_KIND,
    deployId: input.deployId ?? newDeployId(now),
    app: env.app,
    env: env.env,
    release: input.release,
    artifactKey: input.artifactKey ?? `${env.artifacts.artifactPrefix}${input.release}.tar.gz`,
    strategy,
    migrationOrder,
    actor: input.actor,
    ...(bakeOnly ? { mode: 'bake' as const } : {}),
    ...(restart ? { mode: 'restart' as const, ...(input.roles ? { roles: [...input.roles] } : {}) } : {}),
    ...(input.force ? { force: true } : {}),
    ...(input.ignoreAlarms ? { ignoreAlarms: true } : {}),
    ...(input.rebuildBase ? { rebuildBase: true } : {}),
    startedAt: now,
    plan,
    stageIndex: 0,
    step: FIRST_STEP[plan[0] ?? 'lock'],
    waitSeconds: 0,
    done: false,
    transientErrors: 0,
    timings: [{ phase: 'lock', startedAt: now }],
    roleIndex: 0,
    ...(strategy === 'rolling' && env.deploy.rolling.parallelRoles ? { parallelRoles: true } : {}),
    refreshes: {},
    refreshed: [],
    warnings: [],
  };
}

function enterPhase(state: DeployState, phase: Phase, now: number): void {
  const last = state.timings[state.timings.length - 1];
  if (last && last.phase === phase && last.endedAt === undefined) return;
  if (last && last.endedAt === undefined) last.endedAt = now;
  state.timings.push({ phase, startedAt: now });
}

function closePhases(state: DeployState, now: number): void {
  const last = state.timings[state.timings.length - 1];
  if (last && last.endedAt === undefined) last.endedAt = now;
}

function currentPhase(state: DeployState): Phase {
  if (state.compensation) return 'compensate';
  const stage = state.plan[state.stageIndex];
  return stage ? phaseOf(stage) : 'record';
}

function goto(state: DeployState, step: string): void {
  if (state.step !== step) {
    state.step = step;
    delete state.deadline;
    delete state.deadlineStep;
    delete state.waitStartedAt;
    delete state.reportMissingSince;
  }
}

function finish(state: DeployState, outcome: DeployState['outcome'], now: number): void {
  closePhases(state, now);
  state.done = true;
  state.outcome = outcome;
  state.waitSeconds = 0;
}

/** How a compensated deploy ends: a step that failed for good leaves it for an operator. */
function compensatedOutcome(state: DeployState): DeployOutcome {
  if (state.compensation && state.compensation.errors.length > 0) return 'needs-attention';
  return state.abortedBy ? 'aborted' : 'failed';
}

function nextCompensationStep(state: DeployState, now: number): void {
  const comp = state.compensation;
  if (!comp) return;
  comp.index += 1;
  const step = comp.steps[comp.index];
  if (step) goto(state, step);
  else finish(state, compensatedOutcome(state), now);
}

/** Where a deploy goes on after a notification step that kept failing. */
const NEXT_AFTER_NOTIFY: Record<string, string | undefined> = { 'lock.notify': 'lock.janitor', 'record.notify': 'record.unlock' };

/** The record step after `step`; undefined after the last. */
const NEXT_RECORD_STEP: Record<string, string | undefined> = {
  'record.snapshot': 'record.retention',
  'record.retention': 'record.backups',
  'record.backups': 'record.history',
  'record.history': 'record.notify',
  'record.notify': 'record.unlock',
  // The history is written again, with the warning that the lock is still held.
  'record.unlock': 'record.note',
  'record.note': undefined,
};

function apply(state: DeployState, result: StepResult, now: number): void {
  state.transientErrors = 0;
  delete state.erroringSince;
  if ('poll' in result) {
    state.waitSeconds = result.poll;
    return;
  }
  state.waitSeconds = 0;
  if ('end' in result) {
    finish(state, result.end, now);
    return;
  }
  if ('goto' in result) {
    goto(state, result.goto);
    return;
  }
  if (state.compensation) {
    nextCompensationStep(state, now);
    return;
  }
  state.stageIndex += 1;
  const stage = state.plan[state.stageIndex];
  if (!stage) {
    finish(state, 'succeeded', now);
    return;
  }
  enterPhase(state, phaseOf(stage), now);
  goto(state, FIRST_STEP[stage]);
}

/** Switches to compensation after a failure of `state.step`. */
function beginCompensation(state: DeployState, cause: string, now: number): void {
  state.failure = { phase: currentPhase(state), step: state.step, cause: cause.slice(0, 1000), at: now };
  const steps = compensationSteps(state);
  state.compensation = { steps, index: 0, errors: [], refreshes: {} };
  enterPhase(state, 'compensate', now);
  state.waitSeconds = 0;
  state.transientErrors = 0;
  goto(state, steps[0] ?? 'compensate.record');
}

/**
 * The first step of an execution the reaper started for a deploy whose execution died:
 * - in the record stage, the release already serves: finish the bookkeeping, never undo it;
 * - compensating already: go on from the step it was at (every step is idempotent);
 * - ended (done) but its bookkeeping did not complete: record and unlock again;
 * - otherwise: compensate what the deploy did, with the execution's end as the cause.
 */
function resumeAbandoned(state: DeployState, now: number): void {
  const abandoned = state.abandoned;
  if (!abandoned) return;
  delete state.abandoned;
  delete state.lambdaError;
  state.resumes = (state.resumes ?? 0) + 1;
  state.transientErrors = 0;
  state.waitSeconds = 0;
  const execution = abandoned.executionArn.split(':').pop() ?? abandoned.executionArn;
  const cause = abandoned.abortedBy
    ? `aborted by ${abandoned.abortedBy} (herd abort stopped execution ${execution})`
    : `execution ${execution} ended ${abandoned.status}${abandoned.cause ? `: ${abandoned.cause}` : ''}`;
  const inRecord = !state.compensation && (state.done || state.plan[state.stageIndex] === 'record');
  if (abandoned.abortedBy && !state.compensation && !inRecord) state.abortedBy = abandoned.abortedBy;
  if (abandoned.abortedBy && inRecord) state.warnings.push(`${cause} after the release served: it was not rolled back`);
  if (state.done) {
    state.done = false;
    delete state.outcome;
    if (state.compensation) {
      state.warnings.push(cause.slice(0, 500));
      state.compensation.index = Math.max(0, state.compensation.steps.indexOf('compensate.record'));
      goto(state, 'compensate.record');
    } else {
      // Succeeded as far as the execution knew: only the unlock may be missing.
      state.stageIndex = state.plan.indexOf('record');
      goto(state, 'record.unlock');
    }
    return;
  }
  if (state.compensation) {
    // Every compensation step is idempotent: go on from where the dead execution was.
    state.warnings.push(cause.slice(0, 500));
    return;
  }
  if (state.plan[state.stageIndex] === 'record') return;
  beginCompensation(state, cause, now);
}

/**
 * The first step of an execution `herd repair` started: compensation runs again from its
 * first step (every step is idempotent), its earlier failures kept as warnings.
 */
function resumeRepair(state: DeployState, now: number): void {
  const repair = state.repair;
  if (!repair) return;
  delete state.repair;
  delete state.lambdaError;
  delete state.erroringSince;
  state.repairs = (state.repairs ?? 0) + 1;
  state.done = false;
  delete state.outcome;
  state.transientErrors = 0;
  state.waitSeconds = 0;
  const note = `repair ${state.repairs} by ${repair.actor}`;
  if (!state.compensation) {
    beginCompensation(state, state.failure?.cause ?? note, now);
    state.warnings.push(note);
    return;
  }
  const comp = state.compensation;
  state.warnings.push(`${note}; compensation failed before: ${comp.errors.join('; ')}`.slice(0, 1000));
  comp.errors = [];
  comp.index = 0;
  delete state.deadline;
  delete state.deadlineStep;
  delete state.waitStartedAt;
  enterPhase(state, 'compensate', now);
  goto(state, comp.steps[0] ?? 'compensate.record');
}

/**
 * Runs one step of `state`. Never throws for a deploy failure (it compensates instead);
 * throws `DeployLockedError` when another deploy holds the lock, `EnvironmentBusyError`
 * when the environment's stack is being changed, and
 * `InvalidDeployInputError` for a state it cannot run.
 */
export async function advance(input: DeployState, ctx: AdvanceContext): Promise<DeployState> {
  if (input.done && !input.abandoned && !input.repair) return input;
  if (input.app !== ctx.env.app || input.env !== ctx.env.env) {
    throw new InvalidDeployInputError(`state of ${input.app}/${input.env} given to the deploy step of ${ctx.env.app}/${ctx.env.env}`);
  }
  const state: DeployState = structuredClone(input);
  const now = ctx.clock.now();
  if (state.abandoned) {
    resumeAbandoned(state, now);
    return state;
  }
  if (state.repair) {
    resumeRepair(state, now);
    return state;
  }

  // The state machine caught an advance Lambda that kept failing (ResultPath $.lambdaError):
  // one failed try of the step, as if it had thrown.
  if (state.lambdaError) {
    const { Error: name, Cause: cause } = state.lambdaError;
    delete state.lambdaError;
    const err = Object.assign(new Error(`advance Lambda failed on ${state.step}: ${(cause ?? '').slice(0, 500)}`), { name: name ?? 'Lambda.Unknown' });
    return onStepError(state, err, now);
  }

  const step = STEPS[state.step];
  if (!step) throw new InvalidDeployInputError(`unknown deploy step ${JSON.stringify(state.step)}`);
  try {
    const result = await step(state, ctx);
    apply(state, result, now);
    return state;
  } catch (err) {
    if (err instanceof DeployLockedError || err instanceof EnvironmentBusyError || err instanceof PreflightError || err instanceof InvalidDeployInputError) throw err;
    // The draft is dropped: the step's half-made changes to the state never count.
    return onStepError(input, err, now);
  }
}

/**
 * A try of `input.step` failed with `err` (`retries.ts` says how long it is tried again):
 * - tried again: the state unchanged, after a backoff;
 * - a compensation step that failed for good: recorded, and compensation goes on with the
 *   next step (the deploy will end `needs-attention`);
 * - bookkeeping of a release that already serves: a warning, and the next record step;
 * - any other step: the deploy compensates.
 */
function onStepError(input: DeployState, err: unknown, now: number): DeployState {
  const retry = retryAfter(input, err, now);
  if (retry) return { ...input, transientErrors: retry.attempts, ...(isPersistent(input) ? { erroringSince: retry.since } : {}), waitSeconds: retry.waitSeconds };
  const cause = failureCause(input, describeError(err), isTransient(err), now).slice(0, 500);
  const base: DeployState = structuredClone(input);
  base.transientErrors = 0;
  delete base.erroringSince;
  base.waitSeconds = 0;
  if (base.compensation) {
    base.compensation.errors.push(cause);
    nextCompensationStep(base, now);
    return base;
  }
  const afterNotification = NEXT_AFTER_NOTIFY[base.step];
  if (afterNotification) {
    // A notification that keeps failing is a warning: it never fails, nor rolls back, a deploy.
    base.warnings.push(notSent(base.step === 'lock.notify' ? 'started' : 'succeeded', cause));
    goto(base, afterNotification);
    return base;
  }
  if (base.plan[base.stageIndex] === 'record') {
    // The release serves: its bookkeeping never rolls it back.
    base.warnings.push(base.step === 'record.unlock' ? `${cause}; the lock is still held: break it with \`herd unlock ${base.env} --deploy ${base.deployId}\`` : cause);
    const next = NEXT_RECORD_STEP[base.step];
    if (next) goto(base, next);
    else finish(base, 'succeeded', now);
    return base;
  }
  beginCompensation(base, cause, now);
  return base;
}
