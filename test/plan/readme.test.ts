/**
 * The README's model blocks (timing parameters and their sources, the rolling and full
 * timelines, the modelled benchmark) are what the model computes today: change the deploy
 * step or a timing and this fails until `npm run readme` rewrites them.
 */
import { readFileSync } from 'fs';
import * as path from 'path';
import { planReadmeBlocks, replaceBlocks } from '../../lib/plan/readme-blocks';
import { DEFAULT_TIMINGS, TIMING_NAMES } from '../../lib/plan/timings';

const README = readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');

function block(name: string): string | undefined {
  return new RegExp(`<!-- ${name} -->\\n([\\s\\S]*?)\\n<!-- /${name} -->`).exec(README)?.[1];
}

describe('README model blocks', () => {
  let blocks: Record<string, string>;
  beforeAll(async () => {
    blocks = await planReadmeBlocks();
  }, 120_000);

  test.each(['timings', 'timeline:rolling', 'timeline:full', 'bench:model'])('%s matches the model (npm run readme)', (name) => {
    expect(block(name)).toBe(blocks[name]);
  });

  test('every default timing names its source, and each reference is a public https or http address', () => {
    for (const name of TIMING_NAMES) {
      const p = DEFAULT_TIMINGS[name];
      expect([name, p.source.length > 10]).toEqual([name, true]);
      if (p.reference !== undefined) expect([name, p.reference]).toEqual([name, expect.stringMatching(/^https?:\/\/[a-z0-9.-]+\.[a-z]{2,}\//)]);
    }
    // What AWS specifies is cited, not assumed.
    for (const name of ['initialHealthyChecks', 'deregistrationDelaySeconds', 'healthCheckGracePeriodSeconds', 'bootSeconds'] as const) {
      expect([name, DEFAULT_TIMINGS[name].reference]).toEqual([name, expect.any(String)]);
    }
  });

  test('replaceBlocks refuses a README without the block, rather than silently dropping it', () => {
    expect(() => replaceBlocks('no markers here', { timings: 'x' })).toThrow('<!-- timings -->');
  });
});
