/**
 * The release-parameters custom resource (`lambda/release-state`), against the fake
 * cloud's SSM, which validates `aws:ec2:image` writes asynchronously as SSM does: a 200 from
 * PutParameter, the value readable seconds later, or never when the image is unusable.
 */
import { GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { applyReleaseParameters, parseProperties, type ReleaseParametersProperties, type WaitOptions } from '../../lambda/release-state/release-state';
import { amazonLinuxImageParameter } from '../../lib/architecture';
import { NO_RELEASE, parameterNames } from '../../lib/names';
import { createWorld } from '../../lib/simulation/world';
import { describeDenial } from '../support/iam/evaluator';
import { checkReleaseStateIam, RELEASE_STATE_PRINCIPAL, type IamCheck } from '../support/iam/world-iam';

const names = parameterNames('shop', 'fresh');
const props: ReleaseParametersProperties = {
  currentImageParameter: names.currentImage,
  currentReleaseParameter: names.currentRelease,
  baseImageParameter: amazonLinuxImageParameter('x86_64'),
  noRelease: NO_RELEASE,
};

/** Every call of the custom resource is evaluated against its synthesized role after each test. */
let iam: IamCheck | undefined;
afterEach(async () => {
  const check = iam;
  iam = undefined;
  await check?.check();
});

/** A world whose environment `fresh` has no release parameters yet, and a wait that moves virtual time. */
function setup(settings: Parameters<typeof checkReleaseStateIam>[3] = {}) {
  const world = createWorld({ web: 0, serving: 'r1', env: 'staging' });
  iam = checkReleaseStateIam(world, 'shop', 'fresh', settings);
  const clients = world.cloud.clients(RELEASE_STATE_PRINCIPAL);
  let waited = 0;
  const wait: WaitOptions = {
    timeoutSeconds: 90,
    sleep: async (ms) => {
      waited += ms;
      world.cloud.advance(ms / 1000);
    },
  };
  return { world, clients, wait, waited: () => waited };
}

describe('the release parameters', () => {
  test('are created on a new environment, and reported only once current-image is readable', async () => {
    const { world, clients, wait, waited } = setup();
    const result = await applyReleaseParameters('Create', props, clients, wait);
    // Readable at once when the resource reports: the environment stack resolves it next.
    const image = await clients.ssm.send(new GetParameterCommand({ Name: names.currentImage }));
    expect(image.Parameter?.Value).toBe(world.baseImage);
    expect(result).toEqual({ PhysicalResourceId: `${names.currentRelease}#parameters`, Data: { Release: NO_RELEASE, Image: world.baseImage } });
    expect(world.cloud.parameters.get(names.currentRelease)).toBe(NO_RELEASE);
    // SSM took its time to validate the image: the resource waited for it.
    expect(waited()).toBeGreaterThanOrEqual(world.cloud.timings.imageParameterSeconds * 1000);
  });

  test('are created tagged with the app and the environment, which the custom resource\'s role may do', async () => {
    const { clients, wait } = setup();
    const tags = { 'herd:app': 'shop', 'herd:environment': 'fresh' };
    await applyReleaseParameters('Create', { ...props, tags }, clients, wait);
    const puts = iam!.calls.filter((c) => c.call.api === 'PutParameter');
    expect(puts.map((c) => [c.call.input.Name, c.call.input.Tags])).toEqual([names.currentRelease, names.currentImage].map((name) => [name, [{ Key: 'herd:app', Value: 'shop' }, { Key: 'herd:environment', Value: 'fresh' }]]));
    expect(puts.flatMap((c) => c.requests.map((r) => r.action))).toContain('ssm:AddTagsToResource');
    expect(parseProperties({ CurrentImageParameter: 'a', CurrentReleaseParameter: 'b', BaseImageParameter: 'c', NoRelease: 'none', Tags: tags }).tags).toEqual(tags);
  });

  test('are never overwritten once the deploy step owns them', async () => {
    const { world, clients, wait, waited } = setup();
    world.cloud.parameters.set(names.currentImage, world.images.r1 ?? '');
    world.cloud.parameters.set(names.currentRelease, 'r1');
    const result = await applyReleaseParameters('Update', props, clients, wait);
    expect(result.Data).toEqual({ Release: 'r1', Image: world.images.r1 });
    expect(world.cloud.parameters.get(names.currentImage)).toBe(world.images.r1);
    expect(world.cloud.parameters.get(names.currentRelease)).toBe('r1');
    expect(world.cloud.pendingParameters).toEqual([]);
    expect(waited()).toBe(0);
  });

  test('fails, naming the likely causes, when SSM drops the image write', async () => {
    const { world, clients, wait } = setup();
    // The public parameter names an image this region does not have.
    world.cloud.parameters.set(props.baseImageParameter, 'ami-00000000000000bad');
    await expect(applyReleaseParameters('Create', props, clients, wait)).rejects.toThrow(
      `${names.currentImage} is still not readable 90 s after writing ami-00000000000000bad: SSM validates aws:ec2:image parameters asynchronously and drops the write when the AMI does not exist in this region or the writer lacks ec2:DescribeImages`,
    );
  });

  test('fails when the region publishes no base image for the architecture', async () => {
    // Graviton fleets: the stack's resource reads the arm64 parameter.
    const { clients, wait } = setup({ web: { instanceType: 't4g.small' }, worker: { instanceType: 't4g.small' }, deploy: { builderInstanceType: 't4g.medium' } });
    await expect(applyReleaseParameters('Create', { ...props, baseImageParameter: amazonLinuxImageParameter('arm64') }, clients, wait)).rejects.toThrow(
      '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64 not found: this region publishes no Amazon Linux 2023 image for the fleets\' architecture',
    );
  });

  test('are deleted with their stack, idempotently', async () => {
    const { world, clients, wait } = setup();
    await applyReleaseParameters('Create', props, clients, wait);
    await applyReleaseParameters('Delete', props, clients, wait);
    expect(world.cloud.parameters.has(names.currentImage)).toBe(false);
    expect(world.cloud.parameters.has(names.currentRelease)).toBe(false);
    await applyReleaseParameters('Delete', props, clients, wait);
  });

  test('fails when another error than "already exists" happens, so CloudFormation reports it', async () => {
    const { world, clients, wait } = setup();
    world.cloud.throttle = (service, api) => service === 'ssm' && api === 'PutParameter';
    await expect(applyReleaseParameters('Create', props, clients, wait)).rejects.toThrow('Rate exceeded');
    await expect(clients.ssm.send(new PutParameterCommand({ Name: '/x', Value: 'y', Type: 'String' }))).rejects.toThrow('Rate exceeded');
  });
});

describe('the custom resource\'s role', () => {
  test('fails without ec2:DescribeImages, which SSM needs of the writer of an aws:ec2:image parameter', async () => {
    const { clients, wait } = setup();
    await applyReleaseParameters('Create', props, clients, wait);
    const check = iam!;
    iam = undefined;
    const role = check.principals.get(RELEASE_STATE_PRINCIPAL)!;
    check.principals.set(RELEASE_STATE_PRINCIPAL, {
      ...role,
      policies: role.policies.map((p) => ({ name: p.name, document: { ...p.document, Statement: p.document.Statement.filter((s) => s.Sid !== 'ValidateImageParameter') } })),
    });
    const denied = (await check.denials()).map(describeDenial);
    expect(denied).toHaveLength(1);
    expect(denied[0]).toMatch(/^release-state \(arn:aws:iam::123456789012:role\/ReleaseStateFunctionServiceRole\w+\) is denied ec2:DescribeImages on \* \[ImplicitlyDenied\]\n  call: ssm:PutParameter — needed because PutParameter with DataType aws:ec2:image/);
  });
});

describe('parseProperties', () => {
  test('reads the parameters\' names, ignoring the properties of an older herd', () => {
    expect(parseProperties({
      CurrentImageParameter: '/a', CurrentReleaseParameter: '/b', BaseImageParameter: '/aws/service/x', NoRelease: 'none', InitialImageId: 'ami-1', Fleets: [],
    })).toEqual({ currentImageParameter: '/a', currentReleaseParameter: '/b', baseImageParameter: '/aws/service/x', noRelease: 'none' });
  });

  test('fails when a property is missing, naming it', () => {
    expect(() => parseProperties({ CurrentImageParameter: '/a' })).toThrow('ResourceProperties.CurrentReleaseParameter must be a non-empty string, got undefined');
  });
});
