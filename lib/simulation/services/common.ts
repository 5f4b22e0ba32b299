/** Small helpers the service models share: AWS errors, tag lists, ids, EC2-style filters. */
import { FakeAwsError } from '../errors';
import type { Tags } from '../model';

export function fail(code: string, message: string, status = 400): never {
  throw new FakeAwsError(code, message, status);
}

export function tagsFrom(list: readonly { Key?: string; Value?: string }[] | undefined): Tags {
  const tags: Tags = {};
  for (const t of list ?? []) if (t.Key !== undefined) tags[t.Key] = t.Value ?? '';
  return tags;
}

export function tagList(tags: Tags): { Key: string; Value: string }[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

export function pad(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** Whether an EC2 `Filters` list matches: for every filter, the value `get` gives for its Name is one of its Values. */
export function filterMatches(filters: readonly { Name?: string; Values?: string[] }[] | undefined, get: (name: string) => string | undefined): boolean {
  for (const f of filters ?? []) {
    if (!f.Name || !f.Values) fail('InvalidParameterValue', 'A filter needs a Name and Values');
    const value = get(f.Name);
    if (value === undefined || !f.Values.includes(value)) return false;
  }
  return true;
}
