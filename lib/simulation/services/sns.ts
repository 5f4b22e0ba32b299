/**
 * SNS in the fake cloud: Publish to the topics in `cloud.topics`, recorded in
 * `cloud.published`. It refuses what the Publish API reference and the message-attribute
 * rules refuse, so a message herd builds that SNS would reject fails here first:
 *
 * - a topic that does not exist: `NotFound` ("Topic does not exist");
 * - no `TopicArn` (herd never publishes to a phone number or an endpoint), an empty
 *   `Message`, or one that is not well-formed UTF-8;
 * - a `Subject` that is empty, has 100 characters or more, or holds anything but
 *   printable ASCII (line breaks and control characters are refused by SNS; non-ASCII is
 *   refused here to keep email subjects readable everywhere, stricter than SNS's "UTF-8");
 * - message attributes with a name that is empty, longer than 256 characters, made of other
 *   characters than `A-Za-z0-9_-.`, starting or ending with a period, holding `..`, or
 *   starting with `AWS.`/`Amazon.`; a type other than `String`, `String.Array`, `Number`,
 *   `Binary`; an empty or mistyped value;
 * - a message whose body and attributes (names, types, values) exceed 256 KiB in UTF-8
 *   bytes (262,144);
 * - `MessageStructure: json` without a string `default`; a FIFO topic without
 *   `MessageGroupId`.
 *
 * Errors carry the SDK's exception names (`NotFoundException` for the wire code `NotFound`,
 * `InvalidParameterException` for `InvalidParameter`).
 */
import * as sns from '@aws-sdk/client-sns';
import type { FakeCloud } from '../fake-cloud';
import { fail } from './common';

/** SNS's limit on a message, body and attributes together, in bytes. */
export const SNS_MAX_MESSAGE_BYTES = 262_144;
/** SNS refuses a Subject of this many characters or more ("less than 100 characters long"). */
export const SNS_SUBJECT_LIMIT = 100;

/** A UTF-16 surrogate without its pair: the string has no UTF-8 encoding. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const bytes = (text: string) => Buffer.byteLength(text, 'utf8');
function invalid(what: string): never {
  return fail('InvalidParameterException', `Invalid parameter: ${what}`);
}

/** Checks one message attribute as SNS does; returns its size in bytes and its value as recorded. */
function checkAttribute(name: string, value: sns.MessageAttributeValue): { size: number; recorded: string } {
  if (name.length === 0 || name.length > 256 || !/^[A-Za-z0-9_.-]+$/.test(name) || name.startsWith('.') || name.endsWith('.') || name.includes('..') || /^(aws|amazon)\./i.test(name)) {
    invalid(`MessageAttributes: the message attribute name '${name}' is invalid`);
  }
  const type = value.DataType ?? '';
  if (!['String', 'String.Array', 'Number', 'Binary'].includes(type)) {
    invalid(`MessageAttributes: the message attribute '${name}' has an invalid message attribute type '${type}'`);
  }
  if (type === 'Binary') {
    const binary = value.BinaryValue;
    if (!binary || binary.length === 0) invalid(`MessageAttributes: the message attribute '${name}' must contain non-empty message attribute value for message attribute type 'Binary'`);
    return { size: bytes(name) + bytes(type) + binary.length, recorded: Buffer.from(binary).toString('base64') };
  }
  const text = value.StringValue;
  if (text === undefined || text.length === 0) invalid(`MessageAttributes: the message attribute '${name}' must contain non-empty message attribute value for message attribute type '${type}'`);
  if (type === 'Number' && !Number.isFinite(Number(text))) invalid(`MessageAttributes: the message attribute '${name}' with type 'Number' must have a numeric value (received ${JSON.stringify(text)})`);
  if (type === 'String.Array') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!Array.isArray(parsed)) invalid(`MessageAttributes: the message attribute '${name}' with type 'String.Array' must be a JSON array (received ${JSON.stringify(text)})`);
  }
  return { size: bytes(name) + bytes(type) + bytes(text), recorded: text };
}

/** Registers the SNS Publish handler on `cloud`. */
export function registerSns(cloud: FakeCloud): void {
  cloud.on('sns', sns.PublishCommand, (input) => {
    const topicArn = input.TopicArn;
    if (topicArn === undefined || topicArn.length === 0) {
      invalid('TopicArn or TargetArn Reason: no value for required parameter');
    }
    if (!/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/.test(topicArn)) invalid(`TopicArn (received ${JSON.stringify(topicArn)})`);
    if (!cloud.topics.has(topicArn)) fail('NotFoundException', 'Topic does not exist', 404);
    const message = input.Message ?? '';
    if (message.length === 0) invalid('Empty message');
    if (LONE_SURROGATE.test(message)) invalid('Message must be a valid UTF-8 encoded string');
    if (input.Subject !== undefined) {
      const subject = input.Subject;
      if (subject.length === 0 || subject.length >= SNS_SUBJECT_LIMIT || !/^[\x20-\x7e]+$/.test(subject)) {
        invalid(`Subject (must be printable ASCII, without line breaks or control characters, and less than ${SNS_SUBJECT_LIMIT} characters; received ${subject.length} characters: ${JSON.stringify(subject)})`);
      }
    }
    if (input.MessageStructure !== undefined) {
      if (input.MessageStructure !== 'json') invalid(`MessageStructure (received ${JSON.stringify(input.MessageStructure)})`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(message);
      } catch {
        parsed = undefined;
      }
      if (typeof parsed !== 'object' || parsed === null || typeof (parsed as { default?: unknown }).default !== 'string') {
        invalid('Message Structure - JSON message body failed to parse or has no string "default" key');
      }
    }
    if (topicArn.endsWith('.fifo') && !input.MessageGroupId) invalid('The MessageGroupId parameter is required for FIFO topics');
    let size = bytes(message);
    const attributes: Record<string, string> = {};
    for (const [name, value] of Object.entries(input.MessageAttributes ?? {})) {
      const checked = checkAttribute(name, value);
      size += checked.size;
      attributes[name] = checked.recorded;
    }
    if (size > SNS_MAX_MESSAGE_BYTES) invalid(`Message too long (${size} bytes with its attributes; at most ${SNS_MAX_MESSAGE_BYTES})`);
    // Its own counter, not the shared id sequence: publishing never shifts the ids of instances or images.
    const messageId = cloud.published.length.toString(16).padStart(32, '0');
    cloud.published.push({
      service: 'sns',
      at: cloud.now(),
      topicArn,
      ...(input.Subject !== undefined ? { subject: input.Subject } : {}),
      message,
      attributes,
    });
    return { MessageId: messageId };
  });
}
