/**
 * DynamoDB in the fake cloud: one table (`tableName`, key `pk` + `sk`) with GetItem, PutItem,
 * DeleteItem and Query, the condition expressions the deploy step uses, and the key condition
 * the CLI's history uses (`pk = :pk`, in sort-key order, a page of `Limit` items resumed
 * from `ExclusiveStartKey`). Requests come from the document client (`@aws-sdk/lib-dynamodb`)
 * marshalled into attribute values, as DynamoDB receives them; items are kept unmarshalled.
 */
import * as ddb from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { FakeCloud } from '../fake-cloud';
import { fail } from './common';

type Attributes = Record<string, ddb.AttributeValue>;

const plain = (a: Attributes | undefined): Record<string, unknown> | undefined => (a ? unmarshall(a) : undefined);

/** Registers the DynamoDB handlers on `cloud`. */
export function registerDynamoDb(cloud: FakeCloud): void {
  const table = (tableName: string | undefined): void => {
    if (tableName !== cloud.tableName) fail('ResourceNotFoundException', `Requested resource not found: Table: ${tableName} not found`);
  };
  const key = (tableName: string | undefined, k: Record<string, unknown> | undefined): string => {
    table(tableName);
    if (!k || typeof k.pk !== 'string' || typeof k.sk !== 'string' || Object.keys(k).length !== 2) {
      fail('ValidationException', 'The provided key element does not match the schema');
    }
    return `${k.pk}\u0000${k.sk}`;
  };
  const check = (expr: string | undefined, values: Record<string, unknown> | undefined, item: Record<string, unknown> | undefined): void => {
    if (!expr) return;
    const ok = expr.split(/\s+OR\s+/).some((term) => {
      let m = /^attribute_not_exists\((\w+)\)$/.exec(term.trim());
      if (m?.[1]) return item === undefined || !(m[1] in item);
      m = /^attribute_exists\((\w+)\)$/.exec(term.trim());
      if (m?.[1]) return item !== undefined && m[1] in item;
      m = /^(\w+)\s*=\s*(:\w+)$/.exec(term.trim());
      if (m?.[1] && m[2]) {
        if (!values || !(m[2] in values)) fail('ValidationException', `Value provided in ExpressionAttributeValues unused or missing: ${m[2]}`);
        return item !== undefined && item[m[1]] === values[m[2]];
      }
      fail('ValidationException', `the fake does not understand the condition ${term}`);
    });
    if (!ok) fail('ConditionalCheckFailedException', 'The conditional request failed');
  };
  cloud.on('dynamodb', ddb.GetItemCommand, (input) => {
    const item = cloud.table.get(key(input.TableName, plain(input.Key)));
    return item ? { Item: marshall(item, { removeUndefinedValues: true }) } : {};
  });
  cloud.on('dynamodb', ddb.PutItemCommand, (input) => {
    const item = plain(input.Item) ?? {};
    const k = key(input.TableName, { pk: item.pk, sk: item.sk });
    check(input.ConditionExpression, plain(input.ExpressionAttributeValues), cloud.table.get(k));
    if (JSON.stringify(item).length > 400_000) fail('ValidationException', 'Item size has exceeded the maximum allowed size');
    cloud.table.set(k, item);
    return {};
  });
  cloud.on('dynamodb', ddb.DeleteItemCommand, (input) => {
    const k = key(input.TableName, plain(input.Key));
    check(input.ConditionExpression, plain(input.ExpressionAttributeValues), cloud.table.get(k));
    cloud.table.delete(k);
    return {};
  });
  cloud.on('dynamodb', ddb.QueryCommand, (input) => {
    table(input.TableName);
    if (input.KeyConditionExpression !== 'pk = :pk') throw new Error(`fake DynamoDB Query: unsupported KeyConditionExpression ${JSON.stringify(input.KeyConditionExpression)}`);
    const pk = plain(input.ExpressionAttributeValues)?.[':pk'];
    if (typeof pk !== 'string') fail('ValidationException', 'Value provided in ExpressionAttributeValues unused or missing: :pk');
    if (input.Limit !== undefined && (!Number.isInteger(input.Limit) || input.Limit < 1)) {
      fail('ValidationException', `1 validation error detected: Value '${input.Limit}' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1`);
    }
    const forward = input.ScanIndexForward ?? true;
    let items = [...cloud.table.values()]
      .filter((i) => i.pk === pk)
      .sort((a, b) => (forward ? 1 : -1) * (String(a.sk) < String(b.sk) ? -1 : String(a.sk) > String(b.sk) ? 1 : 0));
    const start = plain(input.ExclusiveStartKey)?.sk;
    if (typeof start === 'string') items = items.filter((i) => (forward ? String(i.sk) > start : String(i.sk) < start));
    const page = items.slice(0, input.Limit ?? items.length);
    const last = page.at(-1);
    return {
      Items: page.map((i) => marshall(i, { removeUndefinedValues: true })),
      Count: page.length,
      ScannedCount: page.length,
      ...(page.length < items.length && last ? { LastEvaluatedKey: marshall({ pk: last.pk, sk: last.sk }) } : {}),
    };
  });
}
