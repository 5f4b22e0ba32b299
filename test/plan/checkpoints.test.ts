/**
 * Instance refresh checkpoints (`deploy.rolling.checkpointPercentages`) are drawn where the
 * refresh pauses: once the replaced instances reach the percentage, before the next batch is
 * launched, and the next batch starts when the checkpoint delay is over.
 */
import { profileDefaults } from '../../lib/config/defaults';
import { planDeploy, type DeployPlan } from '../../lib/plan/model';
import { ganttChart } from '../../lib/plan/render';

const production = profileDefaults('production', 'shop').deploy;

describe('checkpoints in the plan', () => {
  let plan: DeployPlan;
  beforeAll(async () => {
    plan = await planDeploy({
      fleets: { web: { desired: 2, min: 2, max: 8 }, worker: { desired: 1, min: 1, max: 3 } },
      deploy: { ...production, rolling: { ...production.rolling, maxHealthyPercentage: 150, checkpointPercentages: [50, 100], checkpointDelaySeconds: 60 } },
      imageExists: true,
      releaseCommand: false,
    });
  });

  test('the 50 % checkpoint of a 2-instance fleet sits between its first and its second batch', () => {
    const web = plan.timeline.filter((e) => e.role === 'web' && e.kind !== 'stage');
    expect(web.map((e) => e.label)).toEqual(['batch 1: 1 web up', 'checkpoint 50% (web)', 'batch 2: 1 web up']);
    const [first, checkpoint, second] = web;
    expect(checkpoint!.start).toBeGreaterThanOrEqual(first!.end);
    expect(checkpoint!.end - checkpoint!.start).toBe(60);
    // Nothing is launched while the refresh waits: the second batch starts as the checkpoint ends.
    expect(second!.start).toBeGreaterThanOrEqual(checkpoint!.end);
    expect(second!.start - checkpoint!.end).toBeLessThanOrEqual(2);
  });

  test('the Gantt chart draws the checkpoint before the second batch', () => {
    const rows = ganttChart(plan).split('\n');
    const at = (label: string) => rows.findIndex((r) => r.startsWith(label));
    const column = (label: string, mark: string) => rows[at(label)]!.indexOf(mark);
    expect(at('checkpoint 50% (web)')).toBeLessThan(at('batch 2: 1 web up'));
    expect(column('checkpoint 50% (web)', '░')).toBeLessThanOrEqual(column('batch 2: 1 web up', '▓'));
  });
});
