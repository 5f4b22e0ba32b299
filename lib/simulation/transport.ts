/**
 * The real AWS SDK v3 in front of the fake cloud.
 *
 * Clients under test are the SDK's own (`new EC2Client(…)`, the DynamoDB document client…),
 * built by the same factory as production's; only their `requestHandler` differs: instead
 * of sending the HTTP request over the network, `FakeTransport` reads it as the service
 * would (the operation's input, from the wire format the SDK's serializer wrote), asks the
 * fake for the answer (`FakeEndpoint.answer`: one call per HTTP attempt, as AWS counts
 * them) and returns the HTTP response the service would send, in the service's protocol
 * (`protocols/query.ts`, `protocols/json.ts`, `protocols/rest-xml.ts`, `protocols/rest-json.ts`). Everything else is
 * the SDK's: serialization, signing, endpoint rules, the retry strategy and its quota, the
 * deserializer and its modeled exception classes (`ThrottlingException`,
 * `InvalidInstanceID.NotFound`…), paginators, waiters, `@aws-sdk/lib-storage` uploads.
 *
 * The operation's schema (which input and output shapes to read and write) reaches the
 * transport through a header a `build`-step middleware adds (`x-herd-fake-operation`): the
 * transport never sees the command object, only what went over the wire.
 *
 * What differs from production: retries. Production clients use `retryMode: 'adaptive'`
 * (standard retries plus a client-side rate limiter that sleeps after throttling); test
 * clients use the standard strategy's decisions and quota (`ConfiguredRetryStrategy`) with
 * no backoff delay, because the fake runs on a virtual clock and a real sleep would only
 * slow the tests down. Which errors are retried, how many attempts, and when the retry
 * quota runs dry are the SDK's.
 */
import { ConfiguredRetryStrategy } from '@smithy/util-retry';
import { getSmithyContext, HttpRequest, HttpResponse } from '@smithy/core/transport';
import type { BuildHandlerOptions, BuildMiddleware, Codec, HttpRequest as IHttpRequest, MetadataBearer } from '@smithy/types';
import { Readable } from 'node:stream';
import { createDeployClients, type DeployClients } from '../../lambda/deploy/clients';
import { FakeAwsError } from './errors';
import { readJsonInput, writeJsonError, writeJsonOutput } from './protocols/json';
import { queryAction, readQueryInput, writeQueryError, writeQueryOutput, type QueryFlavour, type SchemaRef } from './protocols/query';
import { readRestJsonInput, writeRestJsonError, writeRestJsonOutput, type HttpTrait } from './protocols/rest-json';
import { readRestXmlInput, writeRestXmlError, writeRestXmlOutput } from './protocols/rest-xml';

/** Where the transport's requests are answered (the fake cloud). */
export interface FakeEndpoint {
  /**
   * The output of `service`'s `api` (`DescribeInstances`) for `input`, or a thrown
   * `FakeAwsError` the transport turns into the service's error response.
   */
  answer(service: string, api: string, input: Record<string, unknown>, principal?: string): Promise<Record<string, unknown>>;
}

/** The header carrying the operation's name from the middleware to the transport. */
export const OPERATION_HEADER = 'x-herd-fake-operation';

/** The region every test client is configured with. */
export const FAKE_REGION = 'eu-west-1';

/** Attempts of a test client (the deploy Lambda's `maxAttempts`). */
export const FAKE_MAX_ATTEMPTS = 6;

/** An operation schema as the SDK's commands carry it: `[9, namespace, name, traits, input, output]`. */
type StaticOperation = readonly [number, string, string, unknown, SchemaRef, SchemaRef];

/** What the transport needs of a client's protocol object (`client.config.protocol`). */
interface ClientProtocol {
  getShapeId(): string;
  getPayloadCodec(): Pick<Codec<Uint8Array | string, Uint8Array | string>, 'createSerializer' | 'createDeserializer'>;
  readonly awsQueryCompatible?: boolean;
}

/** The parts of an SDK client the transport attaches to. */
export interface AttachableClient {
  readonly config: object;
  readonly middlewareStack: {
    add(middleware: BuildMiddleware<object, MetadataBearer>, options: BuildHandlerOptions & { name: string; override?: boolean }): void;
  };
}

/** A request body (string, bytes, or a stream) as bytes. */
async function bytesOf(body: unknown): Promise<Buffer> {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof Readable || (typeof body === 'object' && Symbol.asyncIterator in body)) {
    const chunks: Buffer[] = [];
    for await (const c of body as AsyncIterable<Uint8Array | string>) chunks.push(typeof c === 'string' ? Buffer.from(c) : Buffer.from(c));
    return Buffer.concat(chunks);
  }
  throw new Error(`fake transport: unsupported request body ${Object.prototype.toString.call(body)}`);
}

/**
 * The retry strategy of test clients: the SDK's standard strategy (what is retried, how many
 * attempts, the retry quota), without waiting between attempts (see the module comment).
 */
export function fakeRetryStrategy(maxAttempts = FAKE_MAX_ATTEMPTS): ConfiguredRetryStrategy {
  return new ConfiguredRetryStrategy(maxAttempts, () => 0);
}

/** An SDK `HttpHandler` that answers every request from the fake cloud. */
export class FakeTransport {
  /** Read by the SDK (`handlerProtocol`); no connection is ever opened. */
  readonly metadata = { handlerProtocol: 'fake' };
  private readonly operations = new Map<string, StaticOperation>();
  private protocol: ClientProtocol | undefined;
  private requests = 0;

  constructor(
    private readonly endpoint: FakeEndpoint,
    /** The fake's name of the service (`ec2`, `autoScaling`…). */
    readonly service: string,
    /** Who calls, for the fake's permission checks (unset: not checked). */
    readonly principal?: string,
  ) {}

  /**
   * Attaches to `client` (built with this transport as its `requestHandler`): learns its
   * protocol, and adds the middleware that names each request's operation.
   */
  attach<C extends AttachableClient>(client: C): C {
    this.protocol = (client.config as { protocol?: ClientProtocol }).protocol;
    if (!this.protocol || typeof this.protocol.getShapeId !== 'function') throw new Error(`fake transport: the ${this.service} client has no schema-based protocol`);
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const op = getSmithyContext(context).operationSchema as StaticOperation | undefined;
        const request = (args as { request?: unknown }).request;
        if (op && HttpRequest.isInstance(request)) {
          this.operations.set(op[2], op);
          request.headers[OPERATION_HEADER] = op[2];
        }
        return next(args);
      },
      { step: 'build', name: 'herdFakeOperationMiddleware', override: true },
    );
    return client;
  }

  updateHttpClientConfig(): void {}

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  destroy(): void {}

  async handle(request: IHttpRequest): Promise<{ response: HttpResponse }> {
    const protocol = this.protocol;
    if (!protocol) throw new Error(`fake transport: the ${this.service} client was not attached`);
    const name = request.headers[OPERATION_HEADER] ?? '';
    const op = this.operations.get(name);
    if (!op) throw new Error(`fake transport: no operation named in the ${this.service} request`);
    const [, , api, , inputSchema, outputSchema] = op;
    const body = await bytesOf(request.body);
    const shape = protocol.getShapeId();
    this.requests += 1;
    const requestId = `fake-${this.service}-${this.requests}`;

    if (shape === 'aws.protocols#awsQuery' || shape === 'aws.protocols#ec2Query') {
      const flavour: QueryFlavour = shape === 'aws.protocols#ec2Query' ? 'ec2Query' : 'awsQuery';
      const text = body.toString('utf8');
      if (queryAction(text) !== api) throw new Error(`fake transport: ${this.service} request for ${api} says Action=${queryAction(text)}`);
      return this.respond(async () => {
        const output = await this.endpoint.answer(this.service, api, readQueryInput(inputSchema, text, flavour), this.principal);
        return { status: 200, headers: { 'content-type': 'text/xml' }, body: writeQueryOutput(api, outputSchema, output, flavour, requestId) };
      }, (e) => ({ status: e.status, headers: { 'content-type': 'text/xml' }, body: writeQueryError(e.code, e.message, e.status, flavour, requestId) }));
    }
    if (shape === 'aws.protocols#awsJson1_0' || shape === 'aws.protocols#awsJson1_1') {
      const codec = protocol.getPayloadCodec();
      const headers = { 'content-type': `application/x-amz-json-${shape.endsWith('1_0') ? '1.0' : '1.1'}`, 'x-amzn-requestid': requestId };
      return this.respond(async () => {
        const input = await readJsonInput(codec, inputSchema, body.toString('utf8'));
        const output = await this.endpoint.answer(this.service, api, input, this.principal);
        return { status: 200, headers, body: writeJsonOutput(codec, outputSchema, output) };
      }, (e) => {
        const error = writeJsonError(e.code, e.message, e.status, protocol.awsQueryCompatible === true);
        return { status: e.status, headers: { ...headers, ...error.headers }, body: error.body };
      });
    }
    if (shape === 'aws.protocols#restXml') {
      const codec = protocol.getPayloadCodec();
      const headers = { 'x-amz-request-id': requestId };
      return this.respond(async () => {
        const input = await readRestXmlInput(codec, inputSchema, request, body);
        const output = await this.endpoint.answer(this.service, api, input, this.principal);
        const written = writeRestXmlOutput(codec, outputSchema, output);
        return { status: 200, headers: { ...headers, ...written.headers }, body: written.body };
      }, (e) => ({ status: e.status, headers: { ...headers, 'content-type': 'application/xml' }, body: writeRestXmlError(request.method, e.code, e.message, requestId) }));
    }
    if (shape === 'aws.protocols#restJson1') {
      const codec = protocol.getPayloadCodec();
      const http = (op[3] as { http?: HttpTrait } | undefined)?.http;
      if (!http) throw new Error(`fake transport: ${this.service} operation ${api} has no http trait`);
      const headers = { 'x-amzn-requestid': requestId };
      return this.respond(async () => {
        const input = await readRestJsonInput(codec, http, inputSchema, request, body);
        const output = await this.endpoint.answer(this.service, api, input, this.principal);
        const written = writeRestJsonOutput(codec, http, outputSchema, output);
        return { status: written.status, headers: { ...headers, ...written.headers }, body: written.body };
      }, (e) => {
        const error = writeRestJsonError(e.code, e.message, e.status);
        return { status: e.status, headers: { ...headers, ...error.headers }, body: error.body };
      });
    }
    throw new Error(`fake transport: ${this.service} speaks ${shape}, which the fake does not`);
  }

  /** Runs `answer`; a `FakeAwsError` it throws becomes the service's error response, anything else fails the test. */
  private async respond(
    answer: () => Promise<{ status: number; headers: Record<string, string>; body: string | Uint8Array }>,
    error: (e: { code: string; message: string; status: number }) => { status: number; headers: Record<string, string>; body: string | Uint8Array },
  ): Promise<{ response: HttpResponse }> {
    let out: { status: number; headers: Record<string, string>; body: string | Uint8Array };
    try {
      out = await answer();
    } catch (err) {
      if (!(err instanceof FakeAwsError)) throw err;
      out = error({ code: err.name, message: err.message, status: err.$metadata.httpStatusCode });
    }
    const body = typeof out.body === 'string' ? Buffer.from(out.body, 'utf8') : out.body;
    // A HEAD answer's Content-Length is the object's size (a header the output set), not its empty body's.
    const headers = { 'content-length': String(body.byteLength), ...out.headers };
    return { response: new HttpResponse({ statusCode: out.status, headers, body }) };
  }
}

/** Client configuration that sends through `transport`: the fixed region, test credentials, and the test retry strategy. */
export function fakeClientConfig(transport: FakeTransport, maxAttempts = FAKE_MAX_ATTEMPTS) {
  return {
    region: FAKE_REGION,
    credentials: { accessKeyId: 'AKIDFAKECLOUD0000000', secretAccessKey: 'fake-cloud-secret' },
    requestHandler: transport,
    retryStrategy: fakeRetryStrategy(maxAttempts),
  };
}

/** An SDK client of class `Client` whose requests `endpoint` answers as `service`. */
export function fakeClient<C extends AttachableClient>(
  Client: new (config: ReturnType<typeof fakeClientConfig>) => C,
  endpoint: FakeEndpoint,
  service: string,
  options: { principal?: string; maxAttempts?: number } = {},
): C {
  const transport = new FakeTransport(endpoint, service, options.principal);
  return transport.attach(new Client(fakeClientConfig(transport, options.maxAttempts)));
}

/**
 * The deploy step's clients, built by production's `createDeployClients`, whose requests
 * `endpoint` answers (as `principal`, when given). They also cache their resolved middleware
 * per command class (`cacheMiddleware`, about 15% of the CPU of a simulated deploy): herd adds
 * no middleware to single commands, and the DynamoDB document client refuses the option.
 */
export function fakeDeployClients(endpoint: FakeEndpoint, options: { principal?: string; maxAttempts?: number } = {}): DeployClients {
  const transports = new Map<string, FakeTransport>();
  const maxAttempts = options.maxAttempts ?? FAKE_MAX_ATTEMPTS;
  const clients = createDeployClients({ retryMode: 'adaptive', maxAttempts }, (service) => {
    const transport = new FakeTransport(endpoint, service, options.principal);
    transports.set(service, transport);
    return { ...fakeClientConfig(transport, maxAttempts), cacheMiddleware: service !== 'dynamodb' };
  });
  for (const [service, client] of Object.entries(clients)) transports.get(service)?.attach(client as unknown as AttachableClient);
  return clients;
}
