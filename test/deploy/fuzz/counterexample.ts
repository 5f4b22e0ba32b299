/**
 * A failing generated deploy as a scenario file ready for `test/deploy/scenarios/`: its
 * `expect` holds what the invariants demand (the release that must serve, the page and
 * processes as operators left them) and the outcome it ended with, so the scenario runner's
 * invariant test fails on it until the bug is fixed.
 */
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { MANUAL_OWNER } from '../../../lambda/deploy/maintenance';
import { NO_RELEASE } from '../../../lib/names';
import { outcomeOf } from '../invariants';
import { runScenario, SCENARIO_DIR, type Scenario, type ScenarioExpectations } from '../scenario';

/** Path of the next scenario file (numbered after the highest one there). */
export function nextScenarioPath(slug: string, dir = SCENARIO_DIR): string {
  const numbers = readdirSync(dir).map((f) => Number.parseInt(f, 10)).filter((n) => Number.isFinite(n));
  const next = Math.max(0, ...numbers) + 1;
  return join(dir, `${String(next).padStart(2, '0')}-${slug}.json`);
}

/** Reruns `scenario` and fills its `expect` from the invariants and the outcome seen. */
export async function asScenarioFile(scenario: Scenario, name: string): Promise<{ scenario: Scenario; path: string }> {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60);
  const path = relative(process.cwd(), nextScenarioPath(slug || 'generated'));
  let run: Awaited<ReturnType<typeof runScenario>>;
  try {
    run = await runScenario(scenario);
  } catch {
    // The run itself throws (the fake lacks an API, the harness breaks): the scenario runner fails the same way.
    return { scenario: { ...scenario, name, expect: { outcome: 'failed', serving: scenario.world.serving } }, path };
  }
  const seen = outcomeOf(run);
  const outcome: ScenarioExpectations['outcome'] =
    seen === 'succeeded' || seen === 'unchanged' || seen === 'failed' || seen === 'needs-attention' || seen === 'aborted' || seen === 'refused' ? seen : 'failed';
  const { observation } = run;
  const serving = outcome === 'succeeded' || outcome === 'unchanged' ? scenario.deploy.release : observation.before.release ?? NO_RELEASE;
  const suspended = Object.fromEntries(Object.entries(observation.operatorSuspended).filter(([, s]) => s.size > 0).map(([role, s]) => [role, [...s].sort()]));
  const expect: ScenarioExpectations = {
    outcome,
    ...(outcome !== 'needs-attention' && outcome !== 'refused' ? { serving } : {}),
    ...(outcome === 'refused' ? { refusedWith: run.result.error?.message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').slice(0, 80) ?? '.' } : {}),
    ...(observation.operatorOwnsPage ? { maintenanceOnAtEnd: true, maintenanceOwnerAtEnd: MANUAL_OWNER } : {}),
    ...(Object.keys(suspended).length > 0 ? { suspendedAtEnd: suspended } : {}),
    // The scenario runner holds a rolling deploy to 100 % of its capacity unless told the configured minimum.
    ...(run.world.env.deploy.rolling.minHealthyPercentage < 100 ? { minHealthyPercent: run.world.env.deploy.rolling.minHealthyPercentage } : {}),
  };
  return { scenario: { ...scenario, name, expect }, path };
}
