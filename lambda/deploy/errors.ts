/** Errors the deploy step raises, and how it tells a transient AWS error from a real one. */

/** A second deploy while one holds the environment's lock. Not retried by the state machine. */
export class DeployLockedError extends Error {
  override readonly name = 'DeployLockedError';
}

/**
 * The environment cannot take a deploy now (its stack is being updated, or is in a failed
 * state); nothing was changed and the lock is free again. Not retried by the state machine.
 */
export class EnvironmentBusyError extends Error {
  override readonly name = 'EnvironmentBusyError';
}

/** The Step Functions input (or a state) is malformed. Not retried by the state machine. */
/** A pre-flight check refused the deploy before any side effect (`preflight.ts`); the message says what to fix. */
export class PreflightError extends Error {
  override readonly name = 'PreflightError';
}

export class InvalidDeployInputError extends Error {
  override readonly name = 'InvalidDeployInputError';
}

/** The maintenance page belongs to a running deploy and `force` was not given. */
export class MaintenanceOwnedError extends Error {
  override readonly name = 'MaintenanceOwnedError';
}

/** `breakLock` found no lock, or one held by another deploy. */
export class LockNotHeldError extends Error {
  override readonly name = 'LockNotHeldError';
}

/**
 * Something this deploy created is not visible yet (EC2 and SSM are eventually consistent):
 * transient, the step runs again after a backoff.
 */
export class NotVisibleYetError extends Error {
  override readonly name = 'NotVisibleYet';
}

/** A failure of the deploy itself (a phase failed or timed out); triggers compensation. */
export class DeployFailure extends Error {
  override readonly name = 'DeployFailure';
}

/** The fields of an SDK v3 service exception the deploy step reads. */
export interface AwsErrorShape extends Error {
  readonly $metadata?: { readonly httpStatusCode?: number };
  readonly $retryable?: { readonly throttling?: boolean };
}

export function isAwsError(err: unknown): err is AwsErrorShape {
  return err instanceof Error && typeof (err as { $metadata?: unknown }).$metadata === 'object';
}

/** Error codes that mean "try again later", across the services the deploy step calls. */
const TRANSIENT_CODES = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'InternalError',
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  // EC2, eventually consistent: a snapshot still attached to an image being deregistered.
  'InvalidSnapshot.InUse',
  'NotVisibleYet',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
]);

/** True for throttling, 5xx and network errors: the step is repeated later, state unchanged. */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (TRANSIENT_CODES.has(err.name)) return true;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
  if (isAwsError(err)) {
    if (err.$retryable?.throttling) return true;
    const status = err.$metadata?.httpStatusCode;
    if (status !== undefined && status >= 500) return true;
  }
  return false;
}

/** The AWS error code of `err`, or undefined. */
export function errorCode(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

export function describeError(err: unknown): string {
  if (err instanceof DeployFailure) return err.message;
  if (err instanceof Error) return err.name && err.name !== 'Error' ? `${err.name}: ${err.message}` : err.message;
  return String(err);
}
