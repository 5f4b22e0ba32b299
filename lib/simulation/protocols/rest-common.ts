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

/**
 * The value an `httpQuery` or `httpHeader` member of an operation's input takes from the request,
 * as its schema's scalar; undefined when the member is bound elsewhere or absent.
 */
export function queryOrHeader(request: HttpRequest, member: NormalizedSchema): { bound: boolean; value?: unknown } {
  const traits = member.getMergedTraits();
  if (typeof traits.httpQuery === 'string') {
    const value = request.query?.[traits.httpQuery];
    const text = Array.isArray(value) ? value[0] : value;
    return { bound: true, ...(typeof text === 'string' ? { value: scalar(member, text) } : {}) };
  }
  if (typeof traits.httpHeader === 'string') {
    const text = header(request, traits.httpHeader);
    return { bound: true, ...(text !== undefined ? { value: scalar(member, text) } : {}) };
  }
  return { bound: false };
}
