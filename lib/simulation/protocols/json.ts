/**
 * The AWS JSON protocols on the fake cloud's side of the wire: `awsJson1_0` (DynamoDB,
 * CloudWatch, Step Functions) and `awsJson1_1` (SSM, EventBridge, Secrets Manager).
 *
 * The operation is the `X-Amz-Target` header (`AmazonSSM.GetParameter`); the body is read
 * into the operation's input, and the output written, by the client's own JSON codec
 * (`protocol.getPayloadCodec()`) through the operation's schemas: timestamps as epoch
 * seconds, blobs in base64, unknown members dropped, exactly as the SDK and the service
 * exchange them. An error is `{"__type": code, "message": …}` with the code in
 * `X-Amzn-ErrorType` too (and `X-Amzn-Query-Error` for a service that also speaks awsQuery,
 * as CloudWatch does), from which the SDK builds its modeled exception.
 */
import type { Codec } from '@smithy/types';
import type { SchemaRef } from './query';

/** What a JSON protocol's payload codec offers the fake. */
type JsonCodec = Pick<Codec<Uint8Array | string, Uint8Array | string>, 'createSerializer' | 'createDeserializer'>;

/** The operation's input, read from a JSON request body. */
export async function readJsonInput(codec: JsonCodec, inputSchema: SchemaRef, body: string): Promise<Record<string, unknown>> {
  const input: unknown = await codec.createDeserializer().read(inputSchema as never, body);
  return (input ?? {}) as Record<string, unknown>;
}

/** The JSON body of a successful response. */
export function writeJsonOutput(codec: JsonCodec, outputSchema: SchemaRef, output: Record<string, unknown>): Uint8Array {
  const serializer = codec.createSerializer();
  serializer.write(outputSchema as never, output);
  const body = serializer.flush();
  // The codec's bytes (a string adapter): copied as plain bytes, never read as a string.
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** The headers and body of an error response. */
export function writeJsonError(code: string, message: string, status: number, queryCompatible: boolean): { headers: Record<string, string>; body: string } {
  return {
    headers: {
      'x-amzn-errortype': code,
      ...(queryCompatible ? { 'x-amzn-query-error': `${code};${status >= 500 ? 'Receiver' : 'Sender'}` } : {}),
    },
    body: JSON.stringify({ __type: code, message }),
  };
}
