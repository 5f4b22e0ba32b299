/**
 * What `herd plan` prints says each thing once and points only inside this repository: a
 * timing parameter's line is `<origin>: <source>` without the origin repeated, and no text of
 * the plan, its sources or its documentation names a file outside the repository.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { profileDefaults } from '../../lib/config/defaults';
import { planDeploy, type DeployPlan, type PlanInput } from '../../lib/plan/model';
import { ganttChart, planSummary, planSvg } from '../../lib/plan/render';
import { DEFAULT_TIMINGS, TIMING_NAMES, timingsFromConfig } from '../../lib/plan/timings';

const ROOT = join(__dirname, '..', '..');
const production = profileDefaults('production', 'shop');

function history(n: number) {
  const start = Date.UTC(2026, 9, n, 10, 0, 0);
  let t = start;
  const phases = Object.entries({ lock: 2, bake: 600, launchTemplate: 2, migrate: 200, rollout: 400, verify: 1, record: 4 }).map(([phase, seconds]) => {
    const p = { phase, startedAt: new Date(t).toISOString(), endedAt: new Date(t + seconds * 1000).toISOString(), seconds };
    t += seconds * 1000;
    return p;
  });
  return {
    pk: 'DEPLOY', sk: `${new Date(start).toISOString()}#d${n}`, deployId: `d${n}`, release: `v${n}`, strategy: 'rolling', migrationOrder: 'before',
    actor: 'alice', status: 'succeeded', startedAt: new Date(start).toISOString(), endedAt: new Date(t).toISOString(), reusedImage: false, phases,
  } as unknown as NonNullable<PlanInput['history']>[number];
}

const input: PlanInput = {
  fleets: { web: { desired: 2, min: 2, max: 4 }, worker: { desired: 1, min: 1, max: 2 } },
  deploy: production.deploy,
  imageExists: false,
  releaseCommand: true,
  // Defaults, the configuration's health check, and (below) the history: every origin appears.
  timings: timingsFromConfig(production),
};

/** Names of files a text mentions (`ECOSYSTEM.md`, `../shared/x.md`, `docs/architecture.md`…). */
function fileNames(text: string): string[] {
  return [...text.matchAll(/[\w./-]*\b[\w-]+\.md\b/g)].map((m) => m[0]);
}

/** Whether `name` is a file of this repository (a bare name: anywhere in it, outside node_modules). */
function inRepository(name: string): boolean {
  if (name.startsWith('../') || name.includes('/../')) return false;
  if (name.includes('/')) return existsSync(join(ROOT, name));
  const walk = (dir: string): boolean =>
    readdirSync(dir, { withFileTypes: true }).some((e) =>
      e.isDirectory() ? !['node_modules', '.git', '.venv', 'cdk.out'].includes(e.name) && walk(join(dir, e.name)) : e.name === name,
    );
  return walk(ROOT);
}

describe('herd plan output', () => {
  let plan: DeployPlan;
  let calibrated: DeployPlan;
  beforeAll(async () => {
    plan = await planDeploy(input);
    calibrated = await planDeploy({ ...input, history: [history(1), history(2), history(3)] });
  });

  test('no timing parameter repeats its origin in its source (default, config, history)', () => {
    for (const p of [plan, calibrated]) {
      const origins = new Set(TIMING_NAMES.map((name) => p.timings[name].origin));
      for (const name of TIMING_NAMES) {
        const { origin, source } = p.timings[name];
        expect([name, source]).not.toEqual([name, expect.stringMatching(new RegExp(`^(${origin}|herd ${origin})\\b`, 'i'))]);
      }
      const lines = planSummary(p, 'herd plan staging').split('\n').filter((l) => /^ {2}\w+Seconds|^ {2}\w+(Checks|Threshold)\b/.test(l));
      expect(lines).toHaveLength(TIMING_NAMES.length);
      for (const line of lines) expect(line).not.toMatch(/\b(default|config|history): (herd )?\1\b/);
      expect(origins.size).toBeGreaterThan(1);
    }
    expect(calibrated.timings.bakeSeconds.origin).toBe('history');
    expect(planSummary(calibrated, 't')).toMatch(/^ {2}bakeSeconds +\d+ {2}history: median bake phase 600 s over 3 deploy\(s\)/m);
    expect(planSummary(plan, 't')).toMatch(/^ {2}healthCheckIntervalSeconds +10 {2}config: healthCheck\.intervalSeconds$/m);
  });

  test('names no file outside the repository: the printed plan, the SVG, the timing sources', () => {
    const texts = [planSummary(plan, 'herd plan staging'), ganttChart(plan), planSvg(plan, 'herd plan staging'), planSummary(calibrated, 't'), ...TIMING_NAMES.map((n) => DEFAULT_TIMINGS[n].source)];
    for (const text of texts) {
      expect(text).not.toContain('../');
      for (const name of fileNames(text)) expect([name, inRepository(name)]).toEqual([name, true]);
    }
  });

  test('names no file outside the repository: the plan\'s code and its documentation (README, docs/)', () => {
    const files = [
      ...readdirSync(join(ROOT, 'lib', 'plan')).map((f) => join('lib', 'plan', f)),
      join('lib', 'cli', 'commands', 'plan.ts'),
      'README.md',
      ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f)),
    ];
    for (const file of files) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      expect([file, text.match(/\.\.\/shared\/|`shared\/[\w.-]+`/g)]).toEqual([file, null]);
      for (const name of fileNames(text).filter((n) => !/^https?:|\/\//.test(n))) expect([file, name, inRepository(name)]).toEqual([file, name, true]);
    }
  });
});
