/**
 * EventBridge in the fake cloud: PutEvents onto the buses in `cloud.eventBuses` (the
 * account's `default` always exists), accepted entries recorded in `cloud.published`.
 *
 * As the API reference says, PutEvents refuses the whole request for 0 or more than 10
 * entries, or entries whose sizes (Source, DetailType, Detail and Resources in UTF-8 bytes,
 * 14 for a Time) add up to more than 256 KiB ("Total size of the entries in the request is
 * over the limit"), and otherwise judges each entry alone, answering 200 with
 * `FailedEntryCount` and a per-entry `ErrorCode`:
 *
 * - `InvalidArgument`: no Source, DetailType or Detail, Source over 256 or DetailType over
 *   128 characters;
 * - `MalformedDetail`: Detail that is not a JSON object;
 * - `NotAuthorizedForSourceException`: a Source starting with `aws.` (reserved for AWS);
 * - `ResourceNotFoundException`: a bus that does not exist;
 * - whatever `cloud.failNextEntries` holds (`InternalFailure`, `ThrottlingException`: what
 *   EventBridge answers under load), one per entry, in order.
 */
import * as eb from '@aws-sdk/client-eventbridge';
import type { FakeCloud } from '../fake-cloud';
import { fail } from './common';

/** PutEvents takes 1 to 10 entries. */
export const MAX_PUT_EVENTS_ENTRIES = 10;
/** Largest total size of a PutEvents request's entries, bytes. */
export const MAX_PUT_EVENTS_BYTES = 262_144;

const bytes = (text: string | undefined) => (text === undefined ? 0 : Buffer.byteLength(text, 'utf8'));

/** An entry's size as EventBridge computes it ("Calculating PutEvents event entry size"). */
export function entrySize(entry: eb.PutEventsRequestEntry): number {
  return (entry.Time ? 14 : 0) + bytes(entry.Source) + bytes(entry.DetailType) + bytes(entry.Detail) + (entry.Resources ?? []).reduce((n, r) => n + bytes(r), 0);
}

/** The bus an entry names (`default` when none), by name or ARN. */
function busName(entry: eb.PutEventsRequestEntry): string {
  const name = entry.EventBusName ?? 'default';
  const arn = /^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/(.+)$/.exec(name);
  return arn?.[1] ?? name;
}

/** Why EventBridge would refuse `entry`, or undefined when it takes it. */
function refusal(cloud: FakeCloud, entry: eb.PutEventsRequestEntry): { code: string; message: string } | undefined {
  const missing = (['Source', 'DetailType', 'Detail'] as const).filter((k) => entry[k] === undefined || entry[k] === '');
  if (missing.length > 0) return { code: 'InvalidArgument', message: `Parameter(s) ${missing.join(', ')} could not be found.` };
  const source = entry.Source ?? '';
  const detailType = entry.DetailType ?? '';
  if (source.length > 256) return { code: 'InvalidArgument', message: `Parameter Source is not valid: longer than 256 characters (${source.length}).` };
  if (detailType.length > 128) return { code: 'InvalidArgument', message: `Parameter DetailType is not valid: longer than 128 characters (${detailType.length}).` };
  if (/^aws\./i.test(source)) return { code: 'NotAuthorizedForSourceException', message: `Not authorized for the source ${source}.` };
  let detail: unknown;
  try {
    detail = JSON.parse(entry.Detail ?? '');
  } catch {
    detail = undefined;
  }
  if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) return { code: 'MalformedDetail', message: 'Detail is malformed.' };
  const bus = busName(entry);
  if (!cloud.eventBuses.has(bus)) return { code: 'ResourceNotFoundException', message: `Event bus ${bus} does not exist.` };
  return cloud.failNextEntries.shift();
}

/** Registers the EventBridge PutEvents handler on `cloud`. */
export function registerEventBridge(cloud: FakeCloud): void {
  cloud.on('eventBridge', eb.PutEventsCommand, (input) => {
    const entries = input.Entries ?? [];
    if (entries.length === 0 || entries.length > MAX_PUT_EVENTS_ENTRIES) {
      fail('ValidationException', `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and ${MAX_PUT_EVENTS_ENTRIES} (received ${entries.length})`);
    }
    const total = entries.reduce((n, e) => n + entrySize(e), 0);
    if (total > MAX_PUT_EVENTS_BYTES) fail('ValidationException', `Total size of the entries in the request is over the limit (${total} bytes; at most ${MAX_PUT_EVENTS_BYTES}).`);
    let failed = 0;
    const results = entries.map((entry) => {
      const refused = refusal(cloud, entry);
      if (refused) {
        failed += 1;
        return { ErrorCode: refused.code, ErrorMessage: refused.message };
      }
      // Its own counter, not the shared id sequence: publishing never shifts the ids of instances or images.
      const eventId = cloud.published.length.toString(16).padStart(32, '0');
      cloud.published.push({
        service: 'eventBridge',
        at: cloud.now(),
        bus: busName(entry),
        source: entry.Source ?? '',
        detailType: entry.DetailType ?? '',
        detail: JSON.parse(entry.Detail ?? '{}') as Record<string, unknown>,
        ...(entry.Time ? { time: new Date(entry.Time).toISOString() } : {}),
      });
      return { EventId: eventId };
    });
    return { FailedEntryCount: failed, Entries: results };
  });
}
