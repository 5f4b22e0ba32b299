/**
 * What the REST protocols of the fake cloud (rest-xml for S3, restJson1 for Lambda) read alike
 * from a request: a header by name, whatever its case, and a scalar of an operation's schema
 * from its text (a header, a query parameter, a URI label).
 */
import type { HttpRequest } from '@smithy/types';
import type { NormalizedSchema } from '@smithy/core/schema';

export function header(request: HttpRequest, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(request.headers)) if (k.toLowerCase() === wanted) return v;
  return undefined;
}

export function scalar(ns: NormalizedSchema, text: string): unknown {
  if (ns.isBooleanSchema()) return text === 'true';
  if (ns.isNumericSchema()) return Number(text);
  if (ns.isTimestampSchema()) return /^\d+(\.\d+)?$/.test(text) ? new Date(Number(text) * 1000) : new Date(text);
  return text;
}
