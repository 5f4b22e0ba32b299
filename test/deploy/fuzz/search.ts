/**
 * The search: fast-check generates deploys (`arbitraries.ts`), each runs in the fake cloud
 * (`runScenario`) and the invariants (`../invariants.ts`) judge its end. A run that breaks one,
 * or throws, fails the property; fast-check shrinks it to a minimal scenario. The jest test
 * (`../fuzz.test.ts`) runs a fixed seed; `npm run fuzz` (`scripts/fuzz.ts`) runs more.
 */
import fc from 'fast-check';
import { checkInvariants, describeBreaches, iamDenials } from '../invariants';
import { runScenario, type Scenario } from '../scenario';
import { scenarioArbitrary } from './arbitraries';

export interface SearchOptions {
  readonly runs: number;
  readonly seed: number;
  /** Called after each generated run (shrinking runs included), with its wall time. */
  readonly onRun?: (scenario: Scenario, ms: number, failed: boolean) => void;
}

export interface SearchResult {
  /** Generated runs that passed before the first failure (all of them if none failed). */
  readonly runs: number;
  readonly failure?: {
    /** The shrunk scenario. */
    readonly scenario: Scenario;
    /** Which invariants broke, and the evidence (or the error thrown). */
    readonly message: string;
    readonly shrinks: number;
  };
}

/** Runs `scenario` and throws the breaches of the invariants, if any. */
export async function checkScenario(scenario: Scenario): Promise<void> {
  const run = await runScenario(scenario);
  const breaches = checkInvariants(run, await iamDenials(run));
  if (breaches.length > 0) throw new Error(describeBreaches(breaches));
}

export async function search(options: SearchOptions): Promise<SearchResult> {
  const property = fc.asyncProperty(scenarioArbitrary, async (scenario) => {
    const started = Date.now();
    let failed = true;
    try {
      await checkScenario(scenario);
      failed = false;
    } finally {
      options.onRun?.(scenario, Date.now() - started, failed);
    }
  });
  const details = await fc.check(property, { numRuns: options.runs, seed: options.seed });
  if (!details.failed || !details.counterexample) return { runs: details.numRuns };
  const [scenario] = details.counterexample;
  const err = details.errorInstance;
  const message = err instanceof Error ? (err.stack?.startsWith(err.message) || !err.stack ? err.message : `${err.message}\n${err.stack}`) : String(err);
  return { runs: details.numRuns - 1, failure: { scenario, message, shrinks: details.numShrinks } };
}
