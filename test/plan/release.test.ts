/**
 * `herd plan <env> <release>` for a release that cannot be deployed (neither an image nor
 * an artifact) is an error with the deploy pre-flight's `release` message, not a clean
 * prediction; against the simulated environment (the real SDK on the fake cloud).
 */
import { artifactKey } from '../../lib/cli/environment';
import { runHerd, testDeps } from '../cli/support/harness';
import { SimulatedEnvironment } from '../cli/support/simulated';

function setup() {
  const sim = new SimulatedEnvironment({ web: 2, worker: 1, serving: 'r1', baked: ['r0'] });
  const deps = () => testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now(), sleep: () => sim.sleep() });
  return { sim, deps };
}

describe('herd plan <env> <release>', () => {
  test('fails when the release has neither an image nor an artifact: the pre-flight\'s release message, exit 2, no prediction', async () => {
    const { sim, deps } = setup();
    const run = await runHerd(['plan', 'staging', 'v9-0123456789ab'], deps());
    expect(run).toEqual({
      code: 2,
      out: '',
      err:
        `herd: no plan for release v9-0123456789ab on staging: release v9-0123456789ab has no image and its artifact s3://${sim.bucket}/releases/v9-0123456789ab.tar.gz does not exist: ` +
        'upload it with `herd deploy staging <the app\'s directory or .tar.gz>` (it computes the release id), or deploy a release that exists (`herd releases staging`)\n',
    });
    const json = await runHerd(['plan', 'staging', 'v9-0123456789ab', '--json'], deps());
    expect(json).toMatchObject({ code: 2, out: '' });
  });

  test('predicts a release with an image (no bake) and one with only an artifact (a bake)', async () => {
    const { sim, deps } = setup();
    const image = await runHerd(['plan', 'staging', 'r0'], deps());
    expect(image).toMatchObject({ code: 0, err: '' });
    expect(image.out).toMatch(/^strategy \w+, .*image exists \(no bake\)/m);
    sim.objects.set(`${sim.bucket}/${artifactKey('v3-0123456789ab')}`, Buffer.from('artifact'));
    const artifact = await runHerd(['plan', 'staging', 'v3-0123456789ab'], deps());
    expect(artifact).toMatchObject({ code: 0, err: '' });
    expect(artifact.out).toMatch(/^strategy \w+, .*bakes a new image/m);
    expect(artifact.out).toMatch(/^pre-flight: ok /m);
  });
});
