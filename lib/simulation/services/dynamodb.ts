/**
 * DynamoDB in the fake cloud, as the document client (`@aws-sdk/lib-dynamodb`) sees it: one
 * table (`tableName`, key `pk` + `sk`) with Get, Put and Delete, and the condition expressions
 * the deploy step uses.
 */
import * as ddb from '@aws-sdk/lib-dynamodb';
import type { FakeCloud } from '../fake-cloud';
import { fail } from './common';

/** Registers the DynamoDB (document client) handlers on `cloud`. */
export function registerDynamoDb(cloud: FakeCloud): void {
  const key = (tableName: string | undefined, k: Record<string, unknown> | undefined): string => {
    if (tableName !== cloud.tableName) fail('ResourceNotFoundException', `Requested resource not found: Table: ${tableName} not found`);
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
  cloud.on('dynamodb', ddb.GetCommand, (input) => {
    const item = cloud.table.get(key(input.TableName, input.Key));
    return item ? { Item: item } : {};
  });
  cloud.on('dynamodb', ddb.PutCommand, (input) => {
    const item = input.Item ?? {};
    const k = key(input.TableName, { pk: item.pk, sk: item.sk });
    check(input.ConditionExpression, input.ExpressionAttributeValues, cloud.table.get(k));
    if (JSON.stringify(item).length > 400_000) fail('ValidationException', 'Item size has exceeded the maximum allowed size');
    cloud.table.set(k, item);
    return {};
  });
  cloud.on('dynamodb', ddb.DeleteCommand, (input) => {
    const k = key(input.TableName, input.Key);
    check(input.ConditionExpression, input.ExpressionAttributeValues, cloud.table.get(k));
    cloud.table.delete(k);
    return {};
  });
}
