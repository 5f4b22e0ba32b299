/**
 * After a migration, the role keeper (`lambda/role-keeper`) runs again: a migration may have
 * created a schema, or objects the owner's default privileges do not cover, and the app's
 * role (web and worker connect as it) must be able to use them before the new code serves.
 *
 * Where it runs: the migrate stage's last step, after the runner is terminated. With
 * migrationOrder `before` (rolling: before the refresh; full: before maintenance and the
 * replacement) and `maintenance` (full: before the replacement and the page comes off), no
 * instance of the new release serves yet. With `after`, the migrate stage follows the
 * rollout: the new release already serves when the migration and the keeper run, as it already
 * served before its migration; only a release whose code works against the old schema (and
 * the old grants) may be deployed so, and the keeper closes the window as soon as it can.
 *
 * How: one synchronous (`RequestResponse`) Invoke. The keeper's work takes seconds (two
 * secrets, one connection, a dozen idempotent statements in one transaction, behind an
 * advisory lock), and the advance function has 2 minutes (lib/deploy-step.ts); an `Event`
 * invocation and a poll would need a place for the keeper to report to and a wait step, for
 * no gain. The call is cut after `KEEPER_WAIT_SECONDS` (a keeper stuck on a lock or a
 * connection) so the advance function always returns: the step then fails with a transient
 * error and runs again later (`retries.ts`), as it does after throttling
 * (`TooManyRequestsException`) or a 5xx. Running the keeper twice is harmless: every
 * statement is idempotent and two runs take turns on the advisory lock, so a try retried after
 * its side effect converges.
 *
 * A function error (Invoke answers 200 with `X-Amz-Function-Error` and the error as the
 * payload: https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html) fails the deploy as a
 * failed migration does: compensation puts the previous release back. Environments without a
 * database or without a keeper, and releases without a `release:` process, skip the step.
 */
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { DeployFailure } from './errors';
import { STAGE_DONE, type Step } from './step';

/** Longest wait for the keeper's answer, well inside the advance function's 2 minutes. */
export const KEEPER_WAIT_SECONDS = 90;

/** The keeper did not answer in time: transient (`TimeoutError`), the step runs again. */
export class KeeperTimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

/** What the deploy step sends: anything but a CloudFormation event makes the keeper keep the roles and answer `{ user }`. */
export interface KeeperEvent {
  readonly source: 'herd-deploy';
  readonly deployId: string;
  readonly release: string;
}

/** The function's name, last part of its ARN. */
function functionName(arn: string): string {
  return arn.slice(arn.lastIndexOf(':') + 1);
}

/** `errorType: errorMessage` of a function error's payload, shortened (the state stays small). */
function describeFunctionError(kind: string, payload: Uint8Array | undefined): string {
  const text = payload ? Buffer.from(payload).toString('utf8') : '';
  let detail = text;
  try {
    const parsed = JSON.parse(text) as { errorType?: unknown; errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') detail = typeof parsed.errorType === 'string' ? `${parsed.errorType}: ${parsed.errorMessage}` : parsed.errorMessage;
  } catch {
    // Not JSON: quoted as it came.
  }
  detail = detail.trim() || `${kind} function error`;
  return detail.length > 300 ? `${detail.slice(0, 299)}…` : detail;
}

export const keepRoles: Step = async (state, ctx) => {
  const arn = ctx.env.database?.roleKeeperFunctionArn;
  if (!arn || state.migration?.rolesKept) return STAGE_DONE;
  const event: KeeperEvent = { source: 'herd-deploy', deployId: state.deployId, release: state.release };
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), KEEPER_WAIT_SECONDS * 1000);
  let res;
  try {
    res = await ctx.clients.lambda.send(
      new InvokeCommand({ FunctionName: arn, InvocationType: 'RequestResponse', Payload: Buffer.from(JSON.stringify(event)) }),
      { abortSignal: abort.signal },
    );
  } catch (err) {
    if (abort.signal.aborted) throw new KeeperTimeoutError(`the role keeper ${functionName(arn)} did not answer within ${KEEPER_WAIT_SECONDS} s`);
    throw err;
  } finally {
    clearTimeout(timer);
  }
  if (res.FunctionError) {
    const name = functionName(arn);
    throw new DeployFailure(
      `the role keeper ${name} failed after the migration (${describeFunctionError(res.FunctionError, res.Payload)}): the migration ran, but the app's ` +
        `database role may lack access to what it created, so the previous release serves again. Read the function's log in CloudWatch Logs, ` +
        'fix the cause, and deploy again (the keeper runs after the migration again)',
    );
  }
  state.migration = { ...state.migration, rolesKept: true };
  return STAGE_DONE;
};
