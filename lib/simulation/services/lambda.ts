/**
 * Lambda in the fake cloud: `Invoke` of the functions a test registers (`addFunction`), each
 * with its behaviour (returns a result, throws: a function error, or is throttled). It
 * answers as the Invoke API reference says
 * (https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html), so a call herd makes that
 * Lambda would refuse or answer differently fails here first:
 *
 * - `FunctionName`: a name, `name:qualifier`, a partial ARN (`123456789012:function:name`) or
 *   a full ARN, 1 to 170 characters of the documented pattern; anything else is a
 *   `ValidationException`. A function of another region or account, an unknown name, or a
 *   qualifier other than `$LATEST` (the fake publishes no versions or aliases):
 *   `ResourceNotFoundException` (404);
 * - `InvocationType` `RequestResponse` (default: status 200 and the function's response as the
 *   payload), `Event` (202, no payload; queued, run at once here) or `DryRun` (204, nothing
 *   runs); `LogType` `None` or `Tail` (the last 4 KB of the log, base64, in `X-Amz-Log-Result`);
 * - a payload must be JSON (`InvalidRequestContentException`, 400) of at most 6 MB
 *   synchronously, 1 MB asynchronously (`RequestTooLargeException`, 413);
 * - a function that throws answers 200 all the same, with `X-Amz-Function-Error: Unhandled`
 *   and `{"errorType", "errorMessage", "trace"}` as the payload ("The status code in the API
 *   response doesn't reflect function errors"); so does a response larger than 6 MB
 *   (`Function.ResponseSizeTooLarge`);
 * - a function out of concurrency: `TooManyRequestsException` (429, `Reason`
 *   `ReservedFunctionConcurrentInvocationLimitExceeded`), before it runs.
 *
 * Every invocation that ran is recorded (`invocations`), with its virtual time.
 */
import * as lambda from '@aws-sdk/client-lambda';
import type { FakeCloud } from '../fake-cloud';
import { fail } from './common';

/** Invoke's payload limit, request and response, for a synchronous invocation (6 MB). */
export const SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024;
/** Invoke's request payload limit for an asynchronous invocation (1 MB). */
export const ASYNC_PAYLOAD_BYTES = 1024 * 1024;

/** The FunctionName pattern and length of the Invoke API reference. */
const FUNCTION_NAME = /^(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?$/;

/** One invocation that ran. */
export interface FakeInvocation {
  /** Virtual time (epoch ms). */
  readonly at: number;
  readonly type: 'RequestResponse' | 'Event';
  /** The event, parsed (undefined for an empty payload). */
  readonly event: unknown;
  /** The function error's type, when it threw. */
  readonly error?: string;
}

/** A function a test registered. */
export interface FakeFunction {
  readonly name: string;
  readonly arn: string;
  /** What the function does with an event: its result, or a throw (a function error). */
  run: (event: unknown) => unknown;
  /** Invocations still to refuse with TooManyRequestsException (concurrency exhausted). */
  throttleNext: number;
  readonly invocations: FakeInvocation[];
}

/** The parts of a FunctionName (region and account when it is an ARN), or a validation error naming it. */
function parseFunctionName(value: string | undefined, qualifier: string | undefined): { name: string; region?: string; account?: string; qualifier?: string } {
  const m = value === undefined ? null : FUNCTION_NAME.exec(value);
  if (value === undefined || value.length < 1 || value.length > 170 || !m) {
    fail('ValidationException', `1 validation error detected: Value '${value ?? ''}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: ${FUNCTION_NAME.source}`);
  }
  if (m[9] !== undefined && qualifier !== undefined && m[9] !== qualifier) {
    fail('InvalidParameterValueException', 'The derived qualifier from the function name does not match the specified qualifier.');
  }
  const q = m[9] ?? qualifier;
  return {
    name: m[7]!,
    ...(m[3] ? { region: m[3].slice(0, -1) } : {}),
    ...(m[5] ? { account: m[5].slice(0, -1) } : {}),
    ...(q !== undefined ? { qualifier: q } : {}),
  };
}

function logTail(requestId: string, lines: readonly string[]): string {
  const text = [`START RequestId: ${requestId} Version: $LATEST`, ...lines, `END RequestId: ${requestId}`, `REPORT RequestId: ${requestId}`].join('\n');
  return Buffer.from(Buffer.from(text, 'utf8').subarray(-4096)).toString('base64');
}

/** Registers the Lambda Invoke handler on `cloud`. */
export function registerLambda(cloud: FakeCloud): void {
  let requests = 0;
  cloud.on('lambda', lambda.InvokeCommand, (input) => {
    const target = parseFunctionName(input.FunctionName, input.Qualifier);
    const fn = cloud.functions.get(target.name);
    const [, , , region, account] = (fn?.arn ?? '').split(':');
    if (!fn || (target.region ?? region) !== region || (target.account ?? account) !== account || (target.qualifier !== undefined && target.qualifier !== '$LATEST')) {
      const arn = `arn:aws:lambda:${target.region ?? region ?? 'eu-west-1'}:${target.account ?? account ?? '123456789012'}:function:${target.name}`;
      fail('ResourceNotFoundException', `Function not found: ${arn}${target.qualifier !== undefined ? `:${target.qualifier}` : ''}`, 404);
    }
    const type = input.InvocationType ?? 'RequestResponse';
    if (!['RequestResponse', 'Event', 'DryRun'].includes(type)) {
      fail('ValidationException', `1 validation error detected: Value '${type}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]`);
    }
    const logType = input.LogType ?? 'None';
    if (logType !== 'None' && logType !== 'Tail') {
      fail('ValidationException', `1 validation error detected: Value '${logType}' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]`);
    }
    // The transport read the body as bytes (`protocols/rest-json.ts`).
    const payload = Buffer.from((input.Payload as Uint8Array | undefined) ?? new Uint8Array());
    const limit = type === 'Event' ? ASYNC_PAYLOAD_BYTES : SYNC_PAYLOAD_BYTES;
    if (payload.byteLength > limit) fail('RequestTooLargeException', `Request must be smaller than ${limit} bytes for the InvokeFunction operation`, 413);
    let event: unknown;
    try {
      event = payload.byteLength === 0 ? undefined : JSON.parse(payload.toString('utf8'));
    } catch (err) {
      fail('InvalidRequestContentException', `Could not parse request body into json: ${(err as Error).message}`);
    }
    if (type === 'DryRun') return { StatusCode: 204 };
    if (fn.throttleNext > 0) {
      fn.throttleNext -= 1;
      fail('TooManyRequestsException', 'Rate Exceeded.', 429);
    }
    requests += 1;
    const requestId = `fake-invocation-${requests}`;
    let response: unknown;
    let error: { errorType: string; errorMessage: string; trace: string[] } | undefined;
    try {
      response = fn.run(event);
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      error = { errorType: e.name || 'Error', errorMessage: e.message, trace: (e.stack ?? '').split('\n') };
    }
    const body = error ? JSON.stringify(error) : response === undefined ? 'null' : JSON.stringify(response);
    if (!error && Buffer.byteLength(body) > SYNC_PAYLOAD_BYTES && type === 'RequestResponse') {
      error = { errorType: 'Function.ResponseSizeTooLarge', errorMessage: `Response payload size exceeded maximum allowed payload size (${SYNC_PAYLOAD_BYTES} bytes).`, trace: [] };
    }
    fn.invocations.push({ at: cloud.now(), type: type as 'RequestResponse' | 'Event', event, ...(error ? { error: error.errorType } : {}) });
    if (type === 'Event') return { StatusCode: 202 };
    return {
      StatusCode: 200,
      ExecutedVersion: '$LATEST',
      ...(error ? { FunctionError: 'Unhandled' } : {}),
      ...(logType === 'Tail' ? { LogResult: logTail(requestId, error ? [`${error.errorType}: ${error.errorMessage}`] : []) } : {}),
      // Bytes on the wire: the SDK's deserializer makes its blob adapter of them.
      Payload: new Uint8Array(Buffer.from(error ? JSON.stringify(error) : body, 'utf8')) as unknown as lambda.InvokeCommandOutput['Payload'],
    };
  });
}
