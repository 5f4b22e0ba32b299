/**
 * The `restXml` protocol on the fake cloud's side of the wire, as S3 speaks it.
 *
 * A request's input is read from its HTTP bindings, member by member through the
 * operation's input schema: the bucket from a virtual-hosted name
 * (`<bucket>.s3.<region>.amazonaws.com`, or the first path segment path-style), the key from
 * the path, `httpQuery` members from the query string, `httpHeader` members from the
 * headers (`httpPrefixHeaders` maps from the prefixed ones), the `httpPayload` member from the body (bytes, or XML read by the client's own
 * XML codec; an `aws-chunked` body, which the SDK sends for streams with a trailing
 * checksum, decoded). A response writes `httpHeader` members as headers (`httpPrefixHeaders` maps
 * as prefixed ones) and the rest as the
 * output's XML document (the client's codec again); an error is S3's `<Error>` document, or
 * no body at all for a HEAD request (the SDK then names a 404 `NotFound`).
 */
import { NormalizedSchema } from '@smithy/core/schema';
import type { HttpRequest } from '@smithy/types';
import type { Codec } from '@smithy/types';
import type { SchemaRef } from './query';
import { header, queryOrHeader } from './rest-common';

type XmlCodec = Pick<Codec<Uint8Array | string, Uint8Array | string>, 'createSerializer' | 'createDeserializer'>;

/** An `aws-chunked` body (`<hex size>[;chunk-signature=…]\r\n<bytes>\r\n … 0\r\n<trailers>\r\n\r\n`) as the bytes it carries. */
export function decodeAwsChunked(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    if (eol < 0) throw new Error('fake S3: malformed aws-chunked body');
    const size = parseInt(body.subarray(at, eol).toString('latin1').split(';')[0] ?? '', 16);
    if (!Number.isFinite(size)) throw new Error('fake S3: malformed aws-chunked chunk size');
    if (size === 0) return Buffer.concat(parts);
    parts.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}


/** Bucket and key of a request, virtual-hosted or path-style. */
function bucketAndKey(request: HttpRequest): { bucket?: string; key?: string } {
  const path = request.path.replace(/^\//, '');
  const virtual = /^(.+)\.s3[.-]/.exec(request.hostname)?.[1];
  if (virtual) return { bucket: virtual, ...(path ? { key: decodeURIComponent(path) } : {}) };
  const [bucket, ...rest] = path.split('/');
  return { ...(bucket ? { bucket: decodeURIComponent(bucket) } : {}), ...(rest.length ? { key: decodeURIComponent(rest.join('/')) } : {}) };
}

/** The operation's input, read from a restXml request and its body bytes. */
export async function readRestXmlInput(codec: XmlCodec, inputSchema: SchemaRef, request: HttpRequest, body: Buffer): Promise<Record<string, unknown>> {
  const ns = NormalizedSchema.of(inputSchema);
  const input: Record<string, unknown> = {};
  if (ns.isUnitSchema()) return input;
  const { bucket, key } = bucketAndKey(request);
  const bytes = /aws-chunked/.test(header(request, 'content-encoding') ?? '') ? decodeAwsChunked(body) : body;
  for (const [name, member] of ns.structIterator()) {
    const traits = member.getMergedTraits();
    const bound = queryOrHeader(request, member);
    if (traits.httpLabel) {
      const value = name === 'Bucket' ? bucket : name === 'Key' ? key : undefined;
      if (value !== undefined) input[name] = value;
    } else if (bound.bound) {
      if (bound.value !== undefined) input[name] = bound.value;
    } else if (typeof traits.httpPrefixHeaders === 'string') {
      // S3's user-defined metadata: every `x-amz-meta-<key>` header, the key in lower case.
      const prefix = traits.httpPrefixHeaders.toLowerCase();
      const map: Record<string, string> = {};
      for (const [k, v] of Object.entries(request.headers)) if (k.toLowerCase().startsWith(prefix)) map[k.toLowerCase().slice(prefix.length)] = v;
      if (Object.keys(map).length > 0) input[name] = map;
    } else if (traits.httpPayload) {
      if (member.isBlobSchema() || member.isStringSchema()) input[name] = member.isStringSchema() ? bytes.toString('utf8') : new Uint8Array(bytes);
      else if (bytes.length > 0) input[name] = await codec.createDeserializer().read(member as never, bytes);
    }
  }
  return input;
}

/** The status, headers and body of a successful restXml response. */
export function writeRestXmlOutput(codec: XmlCodec, outputSchema: SchemaRef, output: Record<string, unknown>): { headers: Record<string, string>; body: string | Uint8Array } {
  const ns = NormalizedSchema.of(outputSchema);
  const headers: Record<string, string> = {};
  if (ns.isUnitSchema()) return { headers, body: '' };
  const document: Record<string, unknown> = {};
  let payload: Uint8Array | undefined;
  for (const [name, member] of ns.structIterator()) {
    const value = output[name];
    if (value === undefined || value === null) continue;
    const traits = member.getMergedTraits();
    if (typeof traits.httpHeader === 'string') headers[traits.httpHeader.toLowerCase()] = value instanceof Date ? value.toUTCString() : String(value);
    // A map of prefixed headers (S3's user-defined metadata: `x-amz-meta-<key>`, keys in lower case).
    else if (typeof traits.httpPrefixHeaders === 'string' && value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) headers[`${traits.httpPrefixHeaders}${k}`.toLowerCase()] = String(v);
    } else if (traits.httpPayload && value instanceof Uint8Array) payload = value;
    else if (!traits.httpResponseCode && !traits.httpPrefixHeaders) document[name] = value;
  }
  if (payload) return { headers, body: payload };
  if (Object.keys(document).length === 0) return { headers, body: '' };
  const serializer = codec.createSerializer();
  serializer.write(ns as never, document);
  const xml = serializer.flush();
  return { headers: { ...headers, 'content-type': 'application/xml' }, body: `<?xml version="1.0" encoding="UTF-8"?>\n${typeof xml === 'string' ? xml : Buffer.from(xml).toString('utf8')}` };
}

/** The body of an S3 error response (none for HEAD, as S3 sends none). */
export function writeRestXmlError(method: string, code: string, message: string, requestId: string): string {
  if (method === 'HEAD') return '';
  const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${esc(code)}</Code><Message>${esc(message)}</Message><RequestId>${requestId}</RequestId></Error>`;
}
