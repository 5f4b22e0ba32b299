/**
 * How long a step that throws is tried again before its failure counts.
 *
 * - A forward step: transient errors (throttling, 5xx) up to `MAX_TRANSIENT_ERRORS` times
 *   with a short backoff; then, or at once for any other error, the deploy compensates.
 * - A step that must not give up quickly: every compensation step (giving up leaves the
 *   environment half changed) and the bookkeeping of a release that already serves
 *   (`record.history`, `record.unlock`). Transient errors are tried again for
 *   `PERSISTENT_RETRY_MINUTES`, spacing out to `PERSISTENT_BACKOFF_MAX_SECONDS`; any other
 *   error `NON_TRANSIENT_ATTEMPTS` times (an operator may be fixing a permission meanwhile).
 *   Then a compensation step counts as failed (the deploy ends `needs-attention`) and a
 *   bookkeeping step as a warning: a serving release is never rolled back for its record.
 */
import { isTransient } from './errors';
import type { DeployState } from './state';

/** Consecutive transient errors tolerated on a forward step before it counts as a failure. */
export const MAX_TRANSIENT_ERRORS = 12;
/** How long a compensation or bookkeeping step keeps trying a transient error. */
export const PERSISTENT_RETRY_MINUTES = 60;
/** Tries of a compensation or bookkeeping step that fails with a non-transient error. */
export const NON_TRANSIENT_ATTEMPTS = 4;
/** Longest pause between two tries of a compensation or bookkeeping step. */
export const PERSISTENT_BACKOFF_MAX_SECONDS = 300;

/** Steps of a serving release's bookkeeping that retry long; the other record steps only warn. */
const PERSISTENT_RECORD_STEPS = new Set(['record.history', 'record.unlock', 'record.note']);

/** Whether a failure of `state.step` must be retried long rather than failing fast. */
export function isPersistent(state: DeployState): boolean {
  return state.compensation !== undefined || PERSISTENT_RECORD_STEPS.has(state.step);
}

function forwardBackoffSeconds(attempt: number): number {
  return Math.min(60, 2 ** Math.min(attempt, 6));
}

function persistentBackoffSeconds(attempt: number): number {
  return Math.min(PERSISTENT_BACKOFF_MAX_SECONDS, 15 * 2 ** Math.min(attempt - 1, 5));
}

export interface Retry {
  /** Seconds to wait before the same step runs again. */
  readonly waitSeconds: number;
  /** Consecutive failed tries of the step so far. */
  readonly attempts: number;
  /** When the step first failed in this series (epoch ms). */
  readonly since: number;
}

/**
 * Whether to try `state.step` again after `err`, and when; undefined when its failure
 * counts now. `state` is the input of the failed try (its `transientErrors` and
 * `erroringSince` describe the series so far).
 */
export function retryAfter(state: DeployState, err: unknown, now: number): Retry | undefined {
  const attempts = state.transientErrors + 1;
  const since = state.erroringSince ?? now;
  const transient = isTransient(err);
  if (isPersistent(state)) {
    const within = transient ? now - since < PERSISTENT_RETRY_MINUTES * 60_000 : attempts < NON_TRANSIENT_ATTEMPTS;
    return within ? { waitSeconds: persistentBackoffSeconds(attempts), attempts, since } : undefined;
  }
  return transient && attempts <= MAX_TRANSIENT_ERRORS ? { waitSeconds: forwardBackoffSeconds(attempts), attempts, since } : undefined;
}

/** How the failure that ended a series of tries is described. */
export function failureCause(state: DeployState, err: string, transient: boolean, now: number): string {
  if (!transient) return `${state.step}: ${err}`;
  if (isPersistent(state)) {
    const minutes = Math.round((now - (state.erroringSince ?? now)) / 60_000);
    return `${state.step} kept failing for ${minutes} min: ${err}`;
  }
  return `${state.step} kept failing after ${MAX_TRANSIENT_ERRORS} retries: ${err}`;
}
