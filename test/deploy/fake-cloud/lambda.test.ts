/**
 * The fake cloud's Lambda Invoke answers as the Invoke API reference says
 * (https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html), through the real SDK's
 * restJson1 client: status codes, `X-Amz-Function-Error`, payload limits, modeled errors.
 */
import { InvokeCommand, type InvokeCommandInput } from '@aws-sdk/client-lambda';
import { ASYNC_PAYLOAD_BYTES, SYNC_PAYLOAD_BYTES } from '../../../lib/simulation/services/lambda';
import { createWorld } from '../../../lib/simulation/world';

const ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:herd-staging-role-keeper';

function world(keeper: 'keeps' | 'fails' = 'keeps') {
  const w = createWorld({ web: 1, serving: 'r1', database: true, roleKeeper: keeper, consistency: { maxLagSeconds: 0 } });
  const fn = w.cloud.functions.get('herd-staging-role-keeper')!;
  const invoke = (input: Partial<InvokeCommandInput>) => w.cloud.clients().lambda.send(new InvokeCommand({ FunctionName: ARN, ...input }));
  return { ...w, fn, invoke };
}

const text = (payload: Uint8Array | undefined) => Buffer.from(payload ?? new Uint8Array()).toString('utf8');

describe('fake Lambda Invoke', () => {
  test('RequestResponse: 200, the function\'s result as the payload, the invocation recorded with its event', async () => {
    const w = world();
    const res = await w.invoke({ Payload: Buffer.from(JSON.stringify({ source: 'test' })) });
    expect(res.StatusCode).toBe(200);
    expect(res.FunctionError).toBeUndefined();
    expect(res.ExecutedVersion).toBe('$LATEST');
    expect(JSON.parse(text(res.Payload))).toEqual({ user: 'shop_app' });
    expect(w.fn.invocations).toEqual([{ at: w.clock.now(), type: 'RequestResponse', event: { source: 'test' } }]);
  });

  test('by name, name:$LATEST and partial ARN too; another qualifier, name, region or account is not found (404)', async () => {
    const w = world();
    for (const name of ['herd-staging-role-keeper', 'herd-staging-role-keeper:$LATEST', '123456789012:function:herd-staging-role-keeper']) {
      await expect(w.invoke({ FunctionName: name })).resolves.toMatchObject({ StatusCode: 200 });
    }
    for (const [input, arn] of [
      [{ FunctionName: 'other' }, 'arn:aws:lambda:eu-west-1:123456789012:function:other'],
      [{ Qualifier: 'prod' }, `${ARN}:prod`],
      [{ FunctionName: ARN.replace('eu-west-1', 'us-east-1') }, ARN.replace('eu-west-1', 'us-east-1')],
      [{ FunctionName: ARN.replace('123456789012', '210987654321') }, ARN.replace('123456789012', '210987654321')],
    ] as const) {
      await expect(w.invoke(input)).rejects.toMatchObject({ name: 'ResourceNotFoundException', message: `Function not found: ${arn}`, $metadata: { httpStatusCode: 404 } });
    }
    expect(w.fn.invocations).toHaveLength(3);
  });

  test('a function that throws: still 200, X-Amz-Function-Error Unhandled, the error as the payload', async () => {
    const w = world('fails');
    const res = await w.invoke({ LogType: 'Tail' });
    expect(res.StatusCode).toBe(200);
    expect(res.FunctionError).toBe('Unhandled');
    expect(JSON.parse(text(res.Payload))).toMatchObject({ errorType: 'error', errorMessage: 'permission denied for schema billing' });
    expect(Buffer.from(res.LogResult ?? '', 'base64').toString('utf8')).toContain('error: permission denied for schema billing');
    expect(w.fn.invocations.map((i) => i.error)).toEqual(['error']);
  });

  test('Event answers 202 without a payload, DryRun 204 without running the function', async () => {
    const w = world();
    await expect(w.invoke({ InvocationType: 'Event' })).resolves.toMatchObject({ StatusCode: 202 });
    await expect(w.invoke({ InvocationType: 'DryRun' })).resolves.toMatchObject({ StatusCode: 204 });
    expect(w.fn.invocations.map((i) => i.type)).toEqual(['Event']);
  });

  test('refuses a payload that is not JSON (400) or over the limit of its invocation type (413), before running', async () => {
    const w = world();
    await expect(w.invoke({ Payload: Buffer.from('{not json') })).rejects.toMatchObject({ name: 'InvalidRequestContentException', $metadata: { httpStatusCode: 400 } });
    const json = (bytes: number) => Buffer.from(JSON.stringify('x'.repeat(bytes - 2)));
    await expect(w.invoke({ Payload: json(SYNC_PAYLOAD_BYTES + 1) })).rejects.toMatchObject({ name: 'RequestTooLargeException', $metadata: { httpStatusCode: 413 } });
    await expect(w.invoke({ InvocationType: 'Event', Payload: json(ASYNC_PAYLOAD_BYTES + 1) })).rejects.toMatchObject({ name: 'RequestTooLargeException' });
    await expect(w.invoke({ InvocationType: 'Event', Payload: json(ASYNC_PAYLOAD_BYTES) })).resolves.toMatchObject({ StatusCode: 202 });
    expect(w.fn.invocations).toHaveLength(1);
  });

  test('a function out of concurrency answers TooManyRequestsException (429), which the SDK retries', async () => {
    const w = world();
    w.fn.throttleNext = 2;
    await expect(w.invoke({})).resolves.toMatchObject({ StatusCode: 200 });
    expect(w.cloud.callCounts()['lambda:Invoke']).toBe(3);
    w.fn.throttleNext = 100;
    await expect(w.invoke({})).rejects.toMatchObject({ name: 'TooManyRequestsException', $metadata: { httpStatusCode: 429 } });
    expect(w.fn.invocations).toHaveLength(1);
  });

  test('a malformed function name is a validation error', async () => {
    const w = world();
    await expect(w.invoke({ FunctionName: 'has space' })).rejects.toMatchObject({ name: 'ValidationException', message: expect.stringContaining("Value 'has space' at 'functionName'") });
  });
});
