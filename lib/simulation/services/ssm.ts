/**
 * Systems Manager Parameter Store in the fake cloud: plain parameters, and `aws:ec2:image`
 * parameters, which SSM validates asynchronously (the write answers 200 at once; the value
 * becomes readable `imageParameterSeconds` later if the image is available, else it is dropped).
 *
 * `registerSsm` registers the SSM API handlers on the cloud; `tickPendingParameters` settles
 * the validations that are due (FakeCloud.tick calls it after DB snapshots, before the groups).
 */
import * as ssm from '@aws-sdk/client-ssm';
import type { FakeCloud } from '../fake-cloud';
import { fail } from './common';
import { straddleReportRead } from './ec2';

// ---------------------------------------------------------------- processes

/** `aws:ec2:image` writes whose validation is due become readable, or are dropped (one virtual second). */
export function tickPendingParameters(cloud: FakeCloud, now: number): void {
  const t = cloud.timings;
  for (const p of [...cloud.pendingParameters]) {
    if (now - p.at < t.imageParameterSeconds * 1000) continue;
    cloud.pendingParameters.splice(cloud.pendingParameters.indexOf(p), 1);
    // SSM drops a write whose AMI does not exist or is not available; the old value stays.
    if (cloud.images.get(p.value)?.state === 'available') cloud.parameters.set(p.name, p.value);
    else cloud.violations.push(`SSM dropped the aws:ec2:image write of ${p.value} to ${p.name}: the image is not available`);
  }
}

// ---------------------------------------------------------------- API

/** Parameters a GetParametersByPath page of the fake holds at most (AWS: between zero and MaxResults). */
export const PARAMETER_PAGE = 2;

/** Largest value of a Standard-tier parameter (PutParameter, `Value`). */
export const MAX_STANDARD_VALUE_CHARS = 4096;

/** Parameter names under `path` (one level, or all levels when `recursive`), sorted; validates the path and the page size. */
function namesUnder(cloud: FakeCloud, path: string | undefined, recursive: boolean | undefined, maxResults: number | undefined, maxPage: number): string[] {
  if (!path || !path.startsWith('/')) fail('ValidationException', `The parameter path must begin with a forward slash (received ${JSON.stringify(path)})`);
  if (maxResults !== undefined && (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > maxPage)) {
    fail('ValidationException', `1 validation error detected: Value '${maxResults}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to ${maxPage}`);
  }
  const prefix = path.endsWith('/') ? path : `${path}/`;
  return [...cloud.parameters.keys()]
    .filter((name) => name.startsWith(prefix) && (recursive || !name.slice(prefix.length).includes('/')) && cloud.visible('parameter', name))
    .sort();
}

function paginate(names: string[], token: string | undefined, size: number): { page: string[]; next?: string } {
  const start = token ? Number(token) : 0;
  if (!Number.isInteger(start) || start < 0 || start > names.length) fail('ValidationException', 'The specified token is not valid.');
  const page = names.slice(start, start + size);
  return start + size < names.length ? { page, next: String(start + size) } : { page };
}

/** Registers the SSM API handlers on `cloud`. */
export function registerSsm(cloud: FakeCloud): void {
  cloud.on('ssm', ssm.GetParameterCommand, (input) => {
    const name = input.Name ?? '';
    const value = cloud.parameters.get(name);
    // Eventual consistency: a parameter created seconds ago is not found yet.
    if (value === undefined || !cloud.visible('parameter', name)) {
      straddleReportRead(cloud, name);
      fail('ParameterNotFound', `Parameter ${input.Name} not found.`);
    }
    return { Parameter: { Name: input.Name, Value: value, Type: 'String' as const, Version: 1 } };
  });

  cloud.on('ssm', ssm.PutParameterCommand, (input) => {
    const name = input.Name ?? '';
    if (!name.startsWith('/')) fail('ValidationException', `Parameter name ${name} must be fully qualified`);
    if (input.Value === undefined || input.Value.length === 0) fail('ValidationException', 'Value must not be empty');
    // The standard tier (the default; herd never asks for another) holds 4 KB.
    if (input.Tier !== undefined && input.Tier !== 'Standard') fail('ValidationException', `herd's fake models the Standard tier only (received Tier ${input.Tier})`);
    if (input.Value.length > MAX_STANDARD_VALUE_CHARS) {
      fail('ValidationException', `Standard tier parameters support a maximum parameter value of ${MAX_STANDARD_VALUE_CHARS} characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier.`);
    }
    if ((input.Description ?? '').length > 1024) fail('ValidationException', 'Description must be at most 1024 characters');
    if (cloud.parameters.has(name) && !input.Overwrite) fail('ParameterAlreadyExists', `The parameter ${name} already exists.`);
    if (!cloud.parameters.has(name) && input.Type === undefined) fail('ValidationException', 'A parameter type is required when you create a parameter.');
    if (input.Type !== undefined && input.Type !== 'String') fail('ValidationException', `herd's fake models String parameters only (received Type ${input.Type})`);
    if (input.DataType !== undefined && !['text', 'aws:ec2:image', 'aws:ssm:integration'].includes(input.DataType)) fail('ValidationException', `DataType ${input.DataType} is not supported`);
    if (input.DataType === 'aws:ec2:image') {
      if (!/^ami-[0-9a-f]+$/.test(input.Value)) fail('ValidationException', `Invalid format for DataType aws:ec2:image: ${input.Value}`);
      // SSM validates the image asynchronously: 200 now, the value readable (or dropped) later.
      cloud.pendingParameters.push({ name, value: input.Value, at: cloud.now() });
      return { Version: 1 };
    }
    if (!cloud.parameters.has(name)) cloud.created('parameter', name);
    cloud.parameters.set(name, input.Value);
    if (input.Description !== undefined) cloud.parameterDescriptions.set(name, input.Description);
    return { Version: 1 };
  });

  // As its API reference: Path fully qualified, MaxResults 1 to 10, direct children unless
  // Recursive; results are best effort, a page holding between zero and MaxResults with a
  // NextToken while more remain (here at most `PARAMETER_PAGE` a page, so a caller that does
  // not page misses parameters); the token is bound to its query.
  cloud.on('ssm', ssm.GetParametersByPathCommand, (input) => {
    const path = input.Path ?? '';
    if (!path.startsWith('/')) fail('ValidationException', `The parameter path ${path} is not valid. Parameter paths must begin with a forward slash (/)`);
    const max = input.MaxResults ?? 10;
    if (!Number.isInteger(max) || max < 1 || max > 10) fail('ValidationException', `1 validation error detected: Value '${max}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 10`);
    if (input.ParameterFilters?.length) throw new Error('the fake cloud does not model GetParametersByPath ParameterFilters');
    const prefix = path.endsWith('/') ? path : `${path}/`;
    const names = [...cloud.parameters.keys()]
      .filter((n) => n.startsWith(prefix) && cloud.visible('parameter', n) && (input.Recursive === true || !n.slice(prefix.length).includes('/')))
      .sort();
    const query = JSON.stringify([prefix, input.Recursive === true]);
    let start = 0;
    if (input.NextToken !== undefined) {
      const m = /^(\d+):(.*)$/s.exec(Buffer.from(input.NextToken, 'base64').toString('utf8'));
      if (!m || m[2] !== query) return fail('ValidationException', 'The specified token is not valid.');
      start = Number(m[1]);
    }
    const page = names.slice(start, start + Math.min(max, PARAMETER_PAGE));
    const next = start + page.length;
    return {
      Parameters: page.map((Name) => ({ Name, Value: cloud.parameters.get(Name) ?? '', Type: 'String' as const, Version: 1 })),
      ...(next < names.length ? { NextToken: Buffer.from(`${next}:${query}`).toString('base64') } : {}),
    };
  });

  // Only the filter herd uses: `Path` (OneLevel), MaxResults 1–50 a page. Values are not returned.
  cloud.on('ssm', ssm.DescribeParametersCommand, (input) => {
    if (input.Filters !== undefined) fail('ValidationException', 'herd\'s fake supports ParameterFilters only');
    const filters = input.ParameterFilters ?? [];
    const path = filters.find((f) => f.Key === 'Path');
    if (filters.length !== 1 || !path || (path.Values?.length ?? 0) !== 1) fail('ValidationException', 'herd\'s fake supports one Path filter with one value');
    if (path.Option !== undefined && path.Option !== 'OneLevel' && path.Option !== 'Recursive') fail('InvalidFilterOption', `The following filter option is not valid: ${path.Option}. Valid options include: [Recursive, OneLevel].`);
    const names = namesUnder(cloud, path.Values?.[0], path.Option === 'Recursive', input.MaxResults, 50);
    const { page, next } = paginate(names, input.NextToken, input.MaxResults ?? 50);
    return {
      Parameters: page.map((name) => ({ Name: name, Type: 'String' as const, Version: 1, ...(cloud.parameterDescriptions.has(name) ? { Description: cloud.parameterDescriptions.get(name) } : {}) })),
      ...(next ? { NextToken: next } : {}),
    };
  });

  cloud.on('ssm', ssm.DeleteParameterCommand, (input) => {
    if (!cloud.parameters.delete(input.Name ?? '')) fail('ParameterNotFound', `Parameter ${input.Name} not found.`);
    cloud.parameterDescriptions.delete(input.Name ?? '');
    return {};
  });
}
