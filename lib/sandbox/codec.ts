/**
 * JSON for the sandbox's state: the fake cloud holds Maps, Sets, Dates and bytes, which JSON
 * does not. `encode` turns them into tagged objects (`{ "$map": [[k, v], …] }`, `$set`,
 * `$date`, `$bytes` in base64) and drops functions; `decode` turns them back.
 */

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** `value` as JSON, Maps, Sets, Dates and bytes tagged. */
export function encode(value: unknown): Json | undefined {
  if (value === null) return null;
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Map) return { $map: [...value.entries()].map(([k, v]) => [encode(k) ?? null, encode(v) ?? null]) };
  if (value instanceof Set) return { $set: [...value].map((v) => encode(v) ?? null) };
  if (value instanceof Date) return { $date: value.getTime() };
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString('base64') };
  if (Array.isArray(value)) return value.map((v) => encode(v) ?? null);
  const out: { [key: string]: Json } = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const e = encode(v);
    if (e !== undefined) out[k] = e;
  }
  return out;
}

/** The value `encode` made `json` from. */
export function decode(json: unknown): unknown {
  if (json === null || typeof json !== 'object') return json;
  if (Array.isArray(json)) return json.map(decode);
  const o = json as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1) {
    if (Array.isArray(o.$map)) return new Map((o.$map as unknown[][]).map(([k, v]) => [decode(k), decode(v)]));
    if (Array.isArray(o.$set)) return new Set((o.$set as unknown[]).map(decode));
    if (typeof o.$date === 'number') return new Date(o.$date);
    if (typeof o.$bytes === 'string') return Buffer.from(o.$bytes, 'base64');
  }
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = decode(o[k]);
  return out;
}

/**
 * Overwrites `target`'s field `key` with `value` in place: a Map, Set or array keeps its
 * identity (others hold it) and gets `value`'s content; a plain record gets `value`'s keys;
 * anything else is assigned.
 */
export function overwrite(target: Record<string, unknown>, key: string, value: unknown): void {
  const current = target[key];
  if (current instanceof Map && value instanceof Map) {
    current.clear();
    for (const [k, v] of value) current.set(k, v);
  } else if (current instanceof Set && value instanceof Set) {
    current.clear();
    for (const v of value) current.add(v);
  } else if (Array.isArray(current) && Array.isArray(value)) {
    current.splice(0, current.length, ...(value as unknown[]));
  } else if (isRecord(current) && isRecord(value)) {
    for (const k of Object.keys(current)) delete current[k];
    Object.assign(current, value);
  } else {
    target[key] = value;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}
