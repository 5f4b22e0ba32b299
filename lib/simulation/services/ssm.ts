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
    if (cloud.parameters.has(name) && !input.Overwrite) fail('ParameterAlreadyExists', `The parameter ${name} already exists.`);
    if (input.DataType !== undefined && !['text', 'aws:ec2:image', 'aws:ssm:integration'].includes(input.DataType)) fail('ValidationException', `DataType ${input.DataType} is not supported`);
    if (input.DataType === 'aws:ec2:image') {
      if (!/^ami-[0-9a-f]+$/.test(input.Value)) fail('ValidationException', `Invalid format for DataType aws:ec2:image: ${input.Value}`);
      // SSM validates the image asynchronously: 200 now, the value readable (or dropped) later.
      cloud.pendingParameters.push({ name, value: input.Value, at: cloud.now() });
      return { Version: 1 };
    }
    if (!cloud.parameters.has(name)) cloud.created('parameter', name);
    cloud.parameters.set(name, input.Value);
    return { Version: 1 };
  });

  cloud.on('ssm', ssm.DeleteParameterCommand, (input) => {
    if (!cloud.parameters.delete(input.Name ?? '')) fail('ParameterNotFound', `Parameter ${input.Name} not found.`);
    return {};
  });
}
