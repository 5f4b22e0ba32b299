/** What herd's CloudFormation custom-resource handlers share: the event's shape and property checks. */

export type RequestType = 'Create' | 'Update' | 'Delete';

/** The part of a provider-framework onEvent request the handlers read. */
export interface OnEvent {
  readonly RequestType: RequestType;
  readonly ResourceProperties: unknown;
}

export function isOnEvent(e: unknown): e is OnEvent {
  if (typeof e !== 'object' || e === null) return false;
  const t = (e as Record<string, unknown>).RequestType;
  return t === 'Create' || t === 'Update' || t === 'Delete';
}

/** Narrows an onEvent request, failing with the event when it is not one. */
export function onEvent(event: unknown): OnEvent {
  if (!isOnEvent(event)) throw new Error(`Not a CloudFormation custom resource event: ${JSON.stringify(event)}`);
  return event;
}

/** The named properties, each a non-empty string; fails naming the first that is not. */
export function stringProperties<K extends string>(raw: unknown, keys: readonly K[]): Record<K, string> {
  if (typeof raw !== 'object' || raw === null) throw new Error('ResourceProperties missing');
  const p = raw as Record<string, unknown>;
  const out = {} as Record<K, string>;
  for (const key of keys) {
    const value = p[key];
    if (typeof value !== 'string' || value === '') throw new Error(`ResourceProperties.${key} must be a non-empty string, got ${JSON.stringify(value)}`);
    out[key] = value;
  }
  return out;
}
