/**
 * The `restJson1` protocol on the fake cloud's side of the wire, as Lambda speaks it.
 *
 * A request's input is read from its HTTP bindings, member by member through the
 * operation's input schema: `httpLabel` members from the path, matched against the
 * operation's `http` trait (`POST /2015-03-31/functions/{FunctionName}/invocations`),
 * `httpQuery` members from the query string, `httpHeader` members from the headers, the
 * `httpPayload` member from the body (bytes, or JSON read by the client's own codec), and
 * any other member from the body's JSON document. A response's status is its
 * `httpResponseCode` member (Invoke's `StatusCode`: 200, 202 or 204), or the trait's code;
 * `httpHeader` members are written as headers (`X-Amz-Function-Error`), the payload member
 * as the body, the rest as a JSON document. An error is `{"Type": …, "message": …}` with
 * the code in `X-Amzn-ErrorType`, from which the SDK builds its modeled exception.
 */
import { NormalizedSchema } from '@smithy/core/schema';
import type { Codec, HttpRequest } from '@smithy/types';
import type { SchemaRef } from './query';
import { queryOrHeader } from './rest-common';

type JsonCodec = Pick<Codec<Uint8Array | string, Uint8Array | string>, 'createSerializer' | 'createDeserializer'>;

/** An operation's `http` trait: method, URI pattern, success code. */
export type HttpTrait = readonly [string, string, number];


/** The path labels of `path` per the URI pattern (`/a/{Name}/b`), decoded; throws when the path does not match. */
export function pathLabels(pattern: string, path: string): Record<string, string> {
  const names: string[] = [];
  const source = pattern
    .split('?')[0]!
    .replace(/[.*+^$()|[\]\\]/g, '\\$&')
    .replace(/\{([A-Za-z0-9_]+)(\+)?\}/g, (_m, name: string, greedy: string | undefined) => {
      names.push(name);
      return greedy ? '(.+)' : '([^/]+)';
    });
  const match = new RegExp(`^${source}$`).exec(path);
  if (!match) throw new Error(`fake restJson1: path ${path} does not match ${pattern}`);
  return Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(match[i + 1]!)]));
}

/** The operation's input, read from a restJson1 request and its body bytes. */
export async function readRestJsonInput(codec: JsonCodec, http: HttpTrait, inputSchema: SchemaRef, request: HttpRequest, body: Buffer): Promise<Record<string, unknown>> {
  const ns = NormalizedSchema.of(inputSchema);
  const input: Record<string, unknown> = {};
  if (ns.isUnitSchema()) return input;
  const labels = pathLabels(http[1], request.path);
  let document: Record<string, unknown> | undefined;
  for (const [name, member] of ns.structIterator()) {
    const traits = member.getMergedTraits();
    const bound = queryOrHeader(request, member);
    if (traits.httpLabel) {
      if (labels[name] !== undefined) input[name] = labels[name];
    } else if (bound.bound) {
      if (bound.value !== undefined) input[name] = bound.value;
    } else if (traits.httpPayload) {
      if (member.isBlobSchema()) {
        if (body.length > 0) input[name] = new Uint8Array(body);
      } else if (member.isStringSchema()) input[name] = body.toString('utf8');
      else if (body.length > 0) input[name] = await codec.createDeserializer().read(member as never, body.toString('utf8'));
    } else {
      document ??= body.length > 0 ? ((await codec.createDeserializer().read(ns as never, body.toString('utf8'))) as Record<string, unknown>) : {};
      if (document[name] !== undefined) input[name] = document[name];
    }
  }
  return input;
}

/** The status, headers and body of a successful restJson1 response. */
export function writeRestJsonOutput(codec: JsonCodec, http: HttpTrait, outputSchema: SchemaRef, output: Record<string, unknown>): { status: number; headers: Record<string, string>; body: string | Uint8Array } {
  const ns = NormalizedSchema.of(outputSchema);
  const headers: Record<string, string> = {};
  let status = http[2];
  if (ns.isUnitSchema()) return { status, headers, body: '' };
  const document: Record<string, unknown> = {};
  let payload: Uint8Array | string | undefined;
  for (const [name, member] of ns.structIterator()) {
    const value = output[name];
    if (value === undefined || value === null) continue;
    const traits = member.getMergedTraits();
    if (traits.httpResponseCode) status = Number(value);
    else if (typeof traits.httpHeader === 'string') headers[traits.httpHeader.toLowerCase()] = value instanceof Date ? value.toUTCString() : String(value);
    else if (traits.httpPayload) payload = value instanceof Uint8Array ? value : typeof value === 'string' ? value : JSON.stringify(value);
    else if (!traits.httpPrefixHeaders) document[name] = value;
  }
  if (payload !== undefined) return { status, headers, body: payload };
  if (Object.keys(document).length === 0) return { status, headers, body: '' };
  const serializer = codec.createSerializer();
  serializer.write(ns as never, document);
  const json = serializer.flush();
  return { status, headers: { ...headers, 'content-type': 'application/json' }, body: typeof json === 'string' ? json : Buffer.from(json) };
}

/** The headers and body of a restJson1 error response (Lambda's: `Type` is `User` for a caller's error, `Service` for its own). */
export function writeRestJsonError(code: string, message: string, status: number): { headers: Record<string, string>; body: string } {
  return {
    headers: { 'x-amzn-errortype': code, 'content-type': 'application/json' },
    body: JSON.stringify({ Type: status >= 500 ? 'Service' : 'User', message }),
  };
}
