/** Runs `herd` in-process with injected dependencies and collects what it prints. */
import type { HerdConfig } from '../../../lib/config/types';
import { resolveConfig } from '../../../lib/config/validate';
import { cachedActor, type AwsClients, type CliDeps, type Writer } from '../../../lib/cli/deps';
import { main } from '../../../lib/cli/program';

/**
 * Collects what the CLI writes. `new Collector(true)` stands for a terminal: it also takes
 * the cursor moves a spinner redraws with (as a tty.WriteStream does), recorded as the
 * escape codes a terminal would receive.
 */
export class Collector implements Writer {
  text = '';
  readonly columns = 160;
  constructor(readonly isTTY = false) {}
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
  clearLine(dir = 0): boolean {
    this.text += `\u001b[${dir < 0 ? 1 : dir > 0 ? 0 : 2}K`;
    return true;
  }
  cursorTo(x: number): boolean {
    this.text += `\u001b[${x + 1}G`;
    return true;
  }
  moveCursor(dx: number, dy: number): boolean {
    if (dx !== 0) this.text += `\u001b[${Math.abs(dx)}${dx < 0 ? 'D' : 'C'}`;
    if (dy !== 0) this.text += `\u001b[${Math.abs(dy)}${dy < 0 ? 'A' : 'B'}`;
    return true;
  }
}

/** The configuration of the CLI tests: app `shop`, environments staging and production. */
export function testConfig(): HerdConfig {
  return resolveConfig({
    app: 'shop',
    environments: [
      { name: 'staging', profile: 'small', network: { cidr: '10.20.0.0/16' }, maintenance: { bypassCidrs: ['203.0.113.0/24'] } },
      { name: 'production', profile: 'production', network: { cidr: '10.30.0.0/16' }, certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0b5f3f4e-1111-2222-3333-444455556666' },
    ],
  });
}

export interface TestDepsOptions {
  readonly clients: (region: string | undefined) => AwsClients;
  readonly config?: HerdConfig;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** `$HERD_ACTOR`'s label, if the test sets one (the actor itself is the clients' STS identity). */
  readonly actorLabel?: string;
}

export interface TestRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** Dependencies for one run; `interrupt()` simulates Ctrl-C. */
export function testDeps(options: TestDepsOptions): CliDeps & { out: Collector; err: Collector; interrupt(): void } {
  const handlers = new Set<() => void>();
  const config = options.config ?? testConfig();
  return {
    clients: options.clients,
    out: new Collector(),
    err: new Collector(),
    isTTY: false,
    now: options.now ?? (() => Date.parse('2026-11-05T10:00:00Z')),
    sleep: options.sleep ?? (async () => undefined),
    config: () => config,
    // As the real CLI: the caller's identity from the clients' STS (simulated: `SIMULATED_CALLER_ARN`; moto: its user).
    actor: cachedActor(options.actorLabel),
    onInterrupt(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    interrupt() {
      for (const h of [...handlers]) h();
    },
  };
}

export async function runHerd(argv: string[], deps: CliDeps & { out: Collector; err: Collector }): Promise<TestRun> {
  const code = await main(argv, deps);
  return { code, out: deps.out.text, err: deps.err.text };
}
