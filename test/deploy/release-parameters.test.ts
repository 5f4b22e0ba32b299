/**
 * What the deploy step does with the two things a release's instances are launched from:
 * the `current-image` parameter (an `aws:ec2:image` parameter, which SSM validates after
 * answering the write, REAL-AWS 2) and the builder's encrypted volume (with the
 * configuration's `ebsKmsKeyArn`, REAL-AWS 16).
 */
import { InvalidDeployEnvironmentError, parseDeployEnvironment } from '../../lambda/deploy/environment';
import { TAGS, parameterNames } from '../../lib/names';
import { runSimulatedDeploy } from '../../lib/simulation/run';
import { createWorld } from '../../lib/simulation/world';

const KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

function imageOf(world: ReturnType<typeof createWorld>, release: string): string | undefined {
  return [...world.cloud.images.values()].find((i) => i.release === release && i.state === 'available')?.id;
}

describe('current-image written by the deploy step', () => {
  test('a write SSM drops (as it does when the writer may not describe the image) fails the deploy after 5 min and compensates: r1 serves, current-image reads r1 again', async () => {
    const world = createWorld({ web: 2, worker: 1, serving: 'r1' });
    const { cloud } = world;
    const run = await runSimulatedDeploy(
      world,
      { release: 'r2', actor: 'alice', deployId: 'deploy-0001' },
      {
        onState: (state) => {
          // SSM answered the write 200; its asynchronous validation then fails and drops it.
          if (state.step === 'launchTemplate.waitParameters' && state.release === 'r2' && !state.failure) cloud.pendingParameters.splice(0);
        },
      },
    );
    const state = run.result.state;
    expect(state?.outcome).toBe('failed');
    expect(state?.failure?.cause).toMatch(/^launchTemplate\.waitParameters: timed out after 5 min waiting for current-image to read ami-\w+ \(SSM validates aws:ec2:image parameters asynchronously\)/);
    const r1 = imageOf(world, 'r1');
    const names = parameterNames(world.env.app, world.env.env);
    expect(r1).toBeDefined();
    expect(cloud.parameters.get(names.currentImage)).toBe(r1);
    expect(cloud.parameters.get(names.currentRelease)).toBe('r1');
    for (const role of ['web', 'worker'] as const) {
      const group = cloud.groups.get(world.env.fleets[role]!.autoScalingGroupName)!;
      const images = group.instances.map((i) => cloud.instances.get(i.id)!.imageId);
      expect(new Set(images)).toEqual(new Set([r1]));
    }
    expect(cloud.table.has('LOCK\u0000LOCK')).toBe(false);
  });
});

describe('the builder\'s volume', () => {
  test('is encrypted with the configured EBS key when there is one', async () => {
    const world = createWorld({ web: 1, serving: 'r1', ebsKmsKeyArn: KEY });
    const run = await runSimulatedDeploy(world, { release: 'r2', actor: 'alice', deployId: 'deploy-0001', mode: 'bake' });
    expect(run.result.state?.outcome).toBe('succeeded');
    const builders = [...world.cloud.instances.values()].filter((i) => i.tags[TAGS.role] === 'builder');
    expect(builders).toHaveLength(1);
    expect(builders[0]?.rootVolume).toMatchObject({ deviceName: '/dev/xvda', encrypted: true, kmsKeyId: KEY });
    expect(world.cloud.violations).toEqual([]);
  });

  test('is encrypted with the account\'s default key when none is configured', async () => {
    const world = createWorld({ web: 1, serving: 'r1' });
    await runSimulatedDeploy(world, { release: 'r2', actor: 'alice', deployId: 'deploy-0001', mode: 'bake' });
    const builder = [...world.cloud.instances.values()].find((i) => i.tags[TAGS.role] === 'builder');
    expect(builder?.rootVolume?.encrypted).toBe(true);
    expect(builder?.rootVolume?.kmsKeyId).toBeUndefined();
  });
});

describe('the deploy step\'s environment: ebsKmsKeyArn', () => {
  const env = createWorld({ web: 1, serving: 'r1', ebsKmsKeyArn: KEY }).env;

  test('a key ARN is read as given', () => {
    expect(parseDeployEnvironment(JSON.stringify(env)).instances.ebsKmsKeyArn).toBe(KEY);
  });

  test('an alias is refused, naming the field and the value', () => {
    const alias = 'arn:aws:kms:eu-west-1:123456789012:alias/ebs';
    const json = JSON.stringify({ ...env, instances: { ...env.instances, ebsKmsKeyArn: alias } });
    expect(() => parseDeployEnvironment(json)).toThrow(InvalidDeployEnvironmentError);
    expect(() => parseDeployEnvironment(json)).toThrow(/ebsKmsKeyArn/);
  });
});
