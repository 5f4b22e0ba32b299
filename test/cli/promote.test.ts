/**
 * `herd promote <from-env> <to-env>` against the simulated environment: `qa` is a peer of the
 * app in the same fake cloud (same account and region), serving a release whose image qa
 * baked; staging is the environment the real deploy step runs in.
 */
import type { HerdConfig } from '../../lib/config/types';
import { resolveConfig } from '../../lib/config/validate';
import { imagesToDeregister } from '../../lambda/deploy/record';
import { NO_RELEASE, TAGS, parameterNames } from '../../lib/names';
import { runHerd, testDeps } from './support/harness';
import { SIMULATED_ACTOR, SimulatedEnvironment } from './support/simulated';

/** The app's configuration: qa and staging, one account and region (unpinned). */
function config(qa: Record<string, unknown> = {}): HerdConfig {
  return resolveConfig({
    app: 'shop',
    environments: [
      { name: 'qa', profile: 'small', network: { cidr: '10.40.0.0/16' }, ...qa },
      { name: 'staging', profile: 'small', network: { cidr: '10.20.0.0/16' }, maintenance: { bypassCidrs: ['203.0.113.0/24'] } },
    ],
  });
}

function setup(qaServing = 'r0', qaConfig: Record<string, unknown> = {}) {
  const sim = new SimulatedEnvironment({ web: 2, worker: 1, serving: 'r1', baked: ['r0'], peers: [{ env: 'qa', serving: qaServing, web: 1 }] });
  // qa baked r0: its image carries qa's tag, as the deploy step of qa tags what it bakes.
  const r0 = sim.world.images.r0;
  if (r0) sim.world.cloud.images.get(r0)!.tags[TAGS.environment] = 'qa';
  const cfg = config(qaConfig);
  const deps = () => testDeps({ clients: () => sim.clients(), config: cfg, now: () => sim.world.clock.now(), sleep: () => sim.sleep() });
  return { sim, deps };
}

const parameter = (sim: SimulatedEnvironment, env: string, name: 'currentRelease' | 'currentImage') => sim.world.cloud.parameters.get(parameterNames('shop', env)[name]);
const builders = (sim: SimulatedEnvironment) => [...sim.world.cloud.instances.values()].filter((i) => i.tags[TAGS.role] === 'builder');

describe('herd promote', () => {
  test('deploys the release serving qa to staging with the same image, no builder launched; history says who promoted it from where', async () => {
    const { sim, deps } = setup();
    const image = parameter(sim, 'qa', 'currentImage');
    expect(image).toBe(sim.world.images.r0);

    const run = await runHerd(['promote', 'qa', 'staging'], deps());
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(run.out.split('\n')[0]).toBe(`promoting release r0 from qa to staging (image ${image}, no bake)`);
    expect(parameter(sim, 'staging', 'currentRelease')).toBe('r0');
    expect(parameter(sim, 'staging', 'currentImage')).toBe(image);
    const web = sim.world.cloud.groups.get('herd-staging-web')!;
    // The live instances (a replaced one may still be draining when the deploy ends).
    const live = web.instances.filter((i) => i.lifecycle !== 'Terminating' && i.lifecycle !== 'Terminated');
    expect(new Set(live.map((i) => sim.world.cloud.instances.get(i.id)?.imageId))).toEqual(new Set([image]));
    expect(builders(sim)).toHaveLength(0);

    const history = JSON.parse((await runHerd(['history', 'staging', '--json'], deps())).out) as { kind: string; verb?: string; actor?: string; detail?: string; release?: string; status?: string }[];
    expect(history).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'deploy', release: 'r0', status: 'succeeded', actor: SIMULATED_ACTOR }),
        expect.objectContaining({ kind: 'action', verb: 'promote', actor: SIMULATED_ACTOR, detail: expect.stringMatching(new RegExp(`^promoted from qa: release r0, image ${image}, deploy \\S+$`)) }),
      ]),
    );
  });

  test('the promoted image survives retention in both environments: staging\'s deploys and qa\'s own', async () => {
    const { sim, deps } = setup();
    const image = parameter(sim, 'qa', 'currentImage')!;
    expect((await runHerd(['promote', 'qa', 'staging'], deps())).code).toBe(0);
    // qa's retention with nothing kept by count: the image stays because staging (a peer) serves it, and qa too.
    const qa = { ...sim.world.env, env: 'qa', amiRetention: 0, peerEnvironments: ['staging'] };
    const doomedInQa = await imagesToDeregister({ clients: sim.world.cloud.clients(), env: qa, clock: sim.world.clock }, 'shop', 'qa', []);
    expect(doomedInQa.map((d) => d.imageId)).not.toContain(image);
    // qa moves on to another release: staging still serves the promoted image, which qa's retention keeps.
    sim.world.cloud.parameters.set(parameterNames('shop', 'qa').currentImage, 'ami-0000000000000000f');
    const later = await imagesToDeregister({ clients: sim.world.cloud.clients(), env: qa, clock: sim.world.clock }, 'shop', 'qa', []);
    expect(later.map((d) => d.imageId)).not.toContain(image);
    expect(sim.world.cloud.images.get(image)?.state).toBe('available');
  });

  test('fails when nothing serves on the source environment, changing nothing', async () => {
    const { sim, deps } = setup(NO_RELEASE);
    const run = await runHerd(['promote', 'qa', 'staging'], deps());
    expect(run).toEqual({
      code: 2,
      out: '',
      err: 'herd: nothing serves on qa (its current-release is none): nothing to promote; deploy a release there first (`herd deploy qa <release|path>`), or deploy one on staging directly\n',
    });
    expect(sim.executions.size).toBe(0);
    expect(parameter(sim, 'staging', 'currentRelease')).toBe('r1');
  });

  test('fails when the environments cannot share an image (CPU architecture), saying what to do instead', async () => {
    const { sim, deps } = setup('r0', { web: { instanceType: 't4g.small' }, worker: { instanceType: 't4g.small' }, deploy: { builderInstanceType: 't4g.medium' } });
    const run = await runHerd(['promote', 'qa', 'staging'], deps());
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/^herd: cannot promote qa to staging: qa's fleets are arm64 \(t4g\.small\) and staging's x86_64 \(t3\.\w+\); an image serves only environments of one app in one account and region with one CPU architecture: deploy the release on staging from its app directory or \.tar\.gz instead \(`herd deploy staging <path> --label <label>`\), which bakes an image there\n$/);
    expect(sim.executions.size).toBe(0);
  });

  test('fails when the source and target are the same environment', async () => {
    const { sim, deps } = setup();
    const run = await runHerd(['promote', 'staging', 'staging'], deps());
    expect(run).toEqual({ code: 2, out: '', err: 'herd: cannot promote staging to itself; to redeploy its release use `herd deploy staging <release> --force`\n' });
    expect(sim.executions.size).toBe(0);
  });
});
