/**
 * The Step Functions side of the contract, so the CDK state machine and the simulation's
 * driver agree:
 *
 *   Advance (Lambda, payload = $) ──▶ Choice: $.done == true ─▶ Succeed/Fail on $.outcome
 *        ▲                                   └─ otherwise ─▶ Wait (SecondsPath $.waitSeconds) ─┐
 *        └─────────────────────────────────────────────────────────────────────────────────────┘
 *
 * Retry on the Advance task: first a retrier with MaxAttempts 0 for `ADVANCE_FATAL_ERRORS`
 * (Step Functions applies the first retrier whose ErrorEquals matches, and
 * `States.TaskFailed` in the next one matches custom error names too: without it a refusal
 * would be retried), then `ADVANCE_RETRY`. Catch: errors in `ADVANCE_FATAL_ERRORS` go to a
 * Fail state (nothing was changed); any other error, once retries are exhausted, goes back
 * to Advance after a pause with ResultPath `$.lambdaError` (the state is kept, the deploy
 * compensates).
 */

/** Errors that end the execution at once: nothing was done, nothing to undo. */
export const ADVANCE_FATAL_ERRORS = ['DeployLockedError', 'EnvironmentBusyError', 'PreflightError', 'InvalidDeployInputError', 'InvalidDeployEnvironmentError'] as const;

/** Retry policy of the Advance task (every step is idempotent, so retrying is safe). */
export const ADVANCE_RETRY = {
  errors: ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException', 'States.Timeout', 'States.TaskFailed'],
  intervalSeconds: 2,
  backoffRate: 2,
  maxAttempts: 4,
} as const;

/** Outcomes that end an execution at a Succeed state (the release serves, as asked). */
export const SUCCEEDING_OUTCOMES = ['succeeded', 'unchanged'] as const;

/**
 * How an execution ends for a finished deploy: a succeeding outcome at a Succeed state, any
 * other at a Fail state with this error (the cause: the deploy's failure).
 */
export const OUTCOME_ERRORS = {
  failed: 'DeployFailed',
  'needs-attention': 'DeployNeedsAttention',
  aborted: 'DeployAborted',
} as const;

/** Errors of a deploy's own ends (not an execution that died): the reaper leaves them alone. */
export const DEPLOY_END_ERRORS: readonly string[] = Object.values(OUTCOME_ERRORS);

/** Where the Catch puts the error so the next advance compensates. */
export const LAMBDA_ERROR_PATH = '$.lambdaError';
