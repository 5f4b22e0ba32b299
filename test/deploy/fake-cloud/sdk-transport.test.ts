/**
 * The real AWS SDK v3 in front of the fake cloud (`lib/simulation/transport.ts`): what goes
 * over the wire is what the fake reads, its answers come back through the SDK's
 * deserializer as the SDK's own exception classes, throttling meets the SDK's retry
 * strategy, and the SDK's waiters and paginators run against it.
 */
import { DescribeInstanceRefreshesCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeAlarmsCommand, InvalidParameterCombinationException } from '@aws-sdk/client-cloudwatch';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DescribeInstancesCommand, DescribeVpcsCommand, EC2ServiceException, RunInstancesCommand, waitUntilInstanceExists, waitUntilInstanceRunning } from '@aws-sdk/client-ec2';
import { GetParameterCommand, ParameterNotFound, PutParameterCommand, SSMServiceException, ThrottlingException } from '@aws-sdk/client-ssm';
import { HeadObjectCommand, NotFound, PutObjectCommand } from '@aws-sdk/client-s3';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { Readable } from 'node:stream';
import { createWorld } from '../../../lib/simulation/world';
import { SimulatedEnvironment } from '../../cli/support/simulated';

function world(extra: Partial<Parameters<typeof createWorld>[0]> = {}) {
  const w = createWorld({ web: 1, serving: 'r1', ...extra });
  return { ...w, clients: w.cloud.clients() };
}

const attemptsOf = (w: ReturnType<typeof world>, api: string) => w.cloud.calls.filter((c) => c.api === api).map((c) => (c.throttled ? 'throttled' : 'answered'));

describe('errors come back as the SDK builds them from the wire', () => {
  test('EC2 (ec2Query XML): a code the model does not list is a service exception named by the code, with its status', async () => {
    const w = world();
    const err = await w.clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: ['i-0000000000000dead'] })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EC2ServiceException);
    expect(err).toMatchObject({ name: 'InvalidInstanceID.NotFound', $fault: 'client', $metadata: { httpStatusCode: 400, attempts: 1 } });
  });

  test('SSM (JSON 1.1): a modeled error is an instance of its class', async () => {
    const w = world();
    const err = await w.clients.ssm.send(new GetParameterCommand({ Name: '/nothing/here' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ParameterNotFound);
    expect(err).toBeInstanceOf(SSMServiceException);
  });

  test('DynamoDB (JSON 1.0, through the document client): a failed condition is ConditionalCheckFailedException', async () => {
    const w = world();
    const put = () => w.clients.dynamodb.send(new PutCommand({ TableName: w.env.tableName, Item: { pk: 'X', sk: 'Y' }, ConditionExpression: 'attribute_not_exists(pk)' }));
    await put();
    await expect(put()).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    // Stored as the service received it: marshalled by the document client, read back as values.
    expect(w.cloud.table.get('X\u0000Y')).toEqual({ pk: 'X', sk: 'Y' });
  });

  test('S3 (REST-XML): a missing object answers a HEAD with a bare 404, which the SDK names NotFound', async () => {
    const w = world({ missingArtifacts: ['r9'] });
    const head = (release: string) => w.clients.s3.send(new HeadObjectCommand({ Bucket: w.env.artifacts.bucket, Key: `releases/${release}.tar.gz` }));
    await expect(head('r9')).rejects.toBeInstanceOf(NotFound);
    await expect(head('r9')).rejects.toMatchObject({ name: 'NotFound', $metadata: { httpStatusCode: 404 } });
    expect((await head('r2')).ContentLength).toBe(1024);
  });

  test('CloudWatch (JSON 1.0, query-compatible): the awsQuery code maps to the JSON model\'s exception class', async () => {
    const w = world();
    const err = await w.clients.cloudWatch.send(new DescribeAlarmsCommand({ AlarmNames: ['a'], AlarmNamePrefix: 'b' })).catch((e: unknown) => e);
    // Code that matched on the awsQuery name (`InvalidParameterCombination`) would miss it.
    expect(err).toBeInstanceOf(InvalidParameterCombinationException);
    expect(err).toMatchObject({ name: 'InvalidParameterCombinationException', message: 'AlarmNames and AlarmNamePrefix cannot be used together' });
  });

  test('an API the fake does not implement fails the call at once (no retry), naming it', async () => {
    const w = world();
    await expect(w.clients.ec2.send(new DescribeVpcsCommand({}))).rejects.toThrow('the fake cloud does not implement ec2:DescribeVpcs');
    expect(w.cloud.callCounts()['ec2:DescribeVpcs']).toBe(1);
  });

  test('Auto Scaling (awsQuery XML): the error document\'s code and message', async () => {
    const w = world();
    await expect(w.clients.autoScaling.send(new DescribeInstanceRefreshesCommand({ AutoScalingGroupName: 'nope' }))).rejects.toMatchObject({
      name: 'ValidationError',
      message: 'AutoScalingGroup name not found - AutoScalingGroup nope not found',
      $metadata: { httpStatusCode: 400 },
    });
  });
});

describe('the SDK\'s retry strategy meets the fake\'s throttling', () => {
  test('a throttled attempt is retried by the SDK: the caller gets the answer, the fake saw two attempts', async () => {
    const w = world();
    w.cloud.parameters.set('/a', 'b');
    w.cloud.throttle = (service, api, attempt) => service === 'ssm' && api === 'GetParameter' && attempt === 1;
    const out = await w.clients.ssm.send(new GetParameterCommand({ Name: '/a' }));
    expect(out.Parameter?.Value).toBe('b');
    expect(out.$metadata.attempts).toBe(2);
    expect(attemptsOf(w, 'ssm:GetParameter')).toEqual(['throttled', 'answered']);
    expect(w.cloud.callCounts()['ssm:GetParameter']).toBe(2);
  });

  test('throttled on every attempt: the SDK gives up after maxAttempts with its ThrottlingException class', async () => {
    const w = world();
    w.cloud.throttle = (service) => service === 'ssm';
    const err = await w.clients.ssm.send(new GetParameterCommand({ Name: '/a' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ThrottlingException);
    expect(err).toMatchObject({ $metadata: { attempts: 6 } });
    expect(attemptsOf(w, 'ssm:GetParameter')).toEqual(Array(6).fill('throttled'));
  });

  test('EC2\'s RequestLimitExceeded (503) is retried too; an error that is not transient is not', async () => {
    const w = world();
    w.cloud.throttle = (service, _api, attempt) => service === 'ec2' && attempt <= 2;
    await w.clients.ec2.send(new DescribeInstancesCommand({}));
    expect(attemptsOf(w, 'ec2:DescribeInstances')).toEqual(['throttled', 'throttled', 'answered']);
    w.cloud.faults.push({ api: 'ssm:PutParameter', code: 'AccessDeniedException', message: 'not authorized', times: 1 });
    await expect(w.clients.ssm.send(new PutParameterCommand({ Name: '/p', Value: 'v', Type: 'String' }))).rejects.toMatchObject({ name: 'AccessDeniedException', $metadata: { attempts: 1 } });
  });
});

describe('the fake reads what the SDK serialized, not the command object', () => {
  test('a value the document client cannot marshal never reaches DynamoDB (the old shim stored it)', async () => {
    const w = world();
    await expect(w.clients.dynamodb.send(new PutCommand({ TableName: w.env.tableName, Item: { pk: 'X', sk: 'Y', at: new Date(0) } }))).rejects.toThrow(/Unsupported type passed: .*Date|convertClassInstanceToMap/);
    expect(w.cloud.table.has('X\u0000Y')).toBe(false);
    expect(w.cloud.calls.filter((c) => c.api.startsWith('dynamodb:'))).toEqual([]);
  });

  test('a member the model does not have is dropped by the serializer; numbers and booleans arrive typed', async () => {
    const w = world();
    const seen: object[] = [];
    w.cloud.on('ssm', PutParameterCommand, (input) => {
      seen.push(input);
      return { Version: 1 };
    });
    await w.clients.ssm.send(new PutParameterCommand({ Name: '/p', Value: 'v', Type: 'String', Overwrite: true, NotAMember: 'x' } as never));
    expect(seen).toEqual([{ Name: '/p', Value: 'v', Type: 'String', Overwrite: true }]);
    const launched = await w.clients.ec2.send(new RunInstancesCommand({ ImageId: w.images.r1, InstanceType: 't3.small', MinCount: 1, MaxCount: 1, SubnetId: w.env.instances.subnetIds[0] }));
    // The launch time is a Date again after its trip through EC2's XML.
    expect(launched.Instances?.[0]?.LaunchTime).toEqual(new Date(w.clock.now()));
  });
});

describe('S3 bodies as the SDK sends them', () => {
  test('a stream goes up aws-chunked with a trailing checksum, and arrives byte for byte', async () => {
    const sim = new SimulatedEnvironment({ web: 1, serving: 'r1' });
    const data = Buffer.from('herd '.repeat(20_000));
    const body = Readable.from([data.subarray(0, 1000), data.subarray(1000)]);
    await sim.clients().s3.send(new PutObjectCommand({ Bucket: sim.bucket, Key: 'releases/r2.tar.gz', Body: body, ContentLength: data.length }));
    expect(sim.objects.get(`${sim.bucket}/releases/r2.tar.gz`)?.equals(data)).toBe(true);
    // The same object, seen by the deploy step's pre-flight through its own client.
    const head = await sim.world.cloud.clients().s3.send(new HeadObjectCommand({ Bucket: sim.bucket, Key: 'releases/r2.tar.gz' }));
    expect(head.ContentLength).toBe(data.length);
  });
});

describe('the SDK\'s waiters run against the fake', () => {
  test('waitUntilInstanceExists rides out EC2\'s eventual consistency (InvalidInstanceID.NotFound), then waitUntilInstanceRunning sees the boot', async () => {
    const w = world({ consistency: { maxLagSeconds: 20, minLagSeconds: 20 } });
    const launched = await w.clients.ec2.send(new RunInstancesCommand({ ImageId: w.images.r1, InstanceType: 't3.small', MinCount: 1, MaxCount: 1, SubnetId: w.env.instances.subnetIds[0] }));
    const id = launched.Instances?.[0]?.InstanceId ?? '';
    await expect(w.clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).rejects.toMatchObject({ name: 'InvalidInstanceID.NotFound' });
    // Virtual time moves on while the waiter waits (its delays are real: kept to the minimum of 1 s).
    const ticking = setInterval(() => w.cloud.advance(15), 100);
    try {
      const exists = await waitUntilInstanceExists({ client: w.clients.ec2 as never, maxWaitTime: 20, minDelay: 1, maxDelay: 1 }, { InstanceIds: [id] });
      expect(exists.state).toBe('SUCCESS');
      const running = await waitUntilInstanceRunning({ client: w.clients.ec2 as never, maxWaitTime: 20, minDelay: 1, maxDelay: 1 }, { InstanceIds: [id] });
      expect(running.state).toBe('SUCCESS');
    } finally {
      clearInterval(ticking);
    }
    expect(w.cloud.instances.get(id)?.state).toBe('running');
    expect(w.cloud.calls.filter((c) => c.api === 'ec2:DescribeInstances').length).toBeGreaterThanOrEqual(3);
  });
});
