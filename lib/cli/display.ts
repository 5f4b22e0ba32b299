/**
 * Where a followed deploy is drawn. On a terminal: lines that stay (the phase list, each
 * finished phase) above a block redrawn in place (ora): the live line, the maintenance
 * banner and one line per instance, fitted to the terminal's width and height. Piped: no
 * escape codes and no `\r`, one line per change, and a heartbeat when nothing was printed
 * for `HEARTBEAT_SECONDS` of the deploy's time.
 */
import ora, { type Ora } from 'ora';
import { styleText } from 'node:util';
import type { CliDeps } from './deps';
import { instanceLines, type InstanceView } from './fleet';

/** Piped output prints at least a line this often (seconds of `deps.now()`), so a log shows the deploy is alive. */
export const HEARTBEAT_SECONDS = 30;

/** What the live part shows after a poll. */
export interface LiveView {
  /** `rollout: replacing 2 of 6 web instances · refresh web 40%` */
  readonly line: string;
  /** `elapsed 9m12s · ETA ~3m10s`: after the line, kept whole when a narrow terminal cuts the line. */
  readonly time: string;
  /** What changes the line (elapsed time alone does not). */
  readonly key: string;
  /** `still rollout: replacing 2 of 6 web instances, elapsed 9m12s, ETA ~3m10s` */
  readonly heartbeat: string;
  /** The maintenance banner while the page is up. */
  readonly banner: readonly string[];
  /** What changes the banner (its age alone does not): piped, it is printed when this changes. */
  readonly bannerKey: string;
  /** Every instance followed in this phase, and those whose status changed this poll. */
  readonly instances: readonly InstanceView[];
  readonly changes: readonly InstanceView[];
}

export interface Display {
  /** A line that stays. `mark`: ✔ (a phase done), ✖ (failed, red), ▲ (a warning), or `cause` (no symbol, red). */
  print(line: string, mark?: Mark): void;
  live(view: LiveView): void;
  stop(): void;
}

/** Colours on a terminal unless `NO_COLOR` is set (https://no-color.org). */
export function colours(deps: Pick<CliDeps, 'isTTY'>, env: NodeJS.ProcessEnv = process.env): (style: 'red' | 'green' | 'yellow' | 'dim', text: string) => string {
  const on = deps.isTTY && (env.NO_COLOR ?? '') === '';
  // Whether to colour is decided here (the stream may not be process.stdout): styleText does not check again.
  return (style, text) => (on ? styleText(style, text, { validateStream: false }) : text);
}

/** `line` cut to `width` characters, with `…` when cut. */
export function fit(line: string, width: number): string {
  const chars = [...line];
  return chars.length <= width ? line : `${chars.slice(0, Math.max(0, width - 1)).join('')}…`;
}

const SYMBOLS = { done: '✔', failed: '✖', warning: '▲' } as const;

export type Mark = keyof typeof SYMBOLS | 'cause';

/** The terminal's size (a test's collector has columns only; 80 × 24 when the stream does not say). */
export function terminalSize(deps: Pick<CliDeps, 'out'>): { columns: number; rows: number } {
  const out = deps.out as { columns?: number; rows?: number };
  return { columns: out.columns && out.columns > 0 ? out.columns : 80, rows: out.rows && out.rows > 0 ? out.rows : 24 };
}

/**
 * A terminal: lines that stay are printed above an ora spinner whose text is the live block
 * (the live line, the banner in yellow, the instances), redrawn in place after each poll and
 * kept within the terminal's width and height; ✖ and a failure's cause in red.
 */
export class TerminalDisplay implements Display {
  private readonly spinner: Ora;
  private readonly paint: ReturnType<typeof colours>;

  constructor(private readonly deps: CliDeps) {
    this.paint = colours(deps);
    this.spinner = ora({ stream: deps.out as NodeJS.WritableStream, isEnabled: true, discardStdin: false, text: 'starting' }).start();
  }

  print(line: string, mark?: Mark): void {
    const { columns } = terminalSize(this.deps);
    const symbol = mark && mark !== 'cause' ? `${this.paint(mark === 'done' ? 'green' : mark === 'failed' ? 'red' : 'yellow', SYMBOLS[mark])} ` : '';
    const text = fit(line, columns - 1 - (symbol === '' ? 0 : 2));
    this.spinner.clear();
    this.deps.out.write(`${symbol}${mark === 'failed' || mark === 'cause' ? this.paint('red', text) : text}\n`);
    this.spinner.render();
  }

  live(view: LiveView): void {
    const { columns, rows } = terminalSize(this.deps);
    // The spinner and a space before the first line; the block keeps a few rows for the lines above.
    const room = Math.max(1, rows - 4);
    const instances = view.instances.flatMap((i) => instanceLines(i).map((l) => `  ${l}`));
    const shown = [...view.banner.map((l) => this.paint('yellow', fit(l, columns - 1))), ...instances.map((l) => fit(l, columns - 1))];
    const lines = shown.length > room - 1 ? [...shown.slice(0, room - 2), `  … and ${shown.length - (room - 2)} more`] : shown;
    // The spinner and its space take 2 columns; the time is kept whole, the step cut if need be.
    const time = view.time ? ` · ${view.time}` : '';
    const width = columns - 3 - time.length;
    const first = width >= 10 ? `${fit(view.line, width)}${time}` : fit(`${view.line}${time}`, columns - 3);
    this.spinner.text = [first, ...lines].join('\n');
    this.spinner.render(); // at once, not at the next frame
  }

  stop(): void {
    this.spinner.stop();
  }
}

/**
 * A pipe or a file: every line printed once, the live line when its step changes (not its
 * clock), the banner when the page goes up, an instance when its status changes, and a
 * heartbeat (`… still <phase>: <step>, elapsed, ETA`) so that a log never stays silent for
 * `HEARTBEAT_SECONDS` of the deploy's time.
 */
export class PlainDisplay implements Display {
  private lastKey = '';
  private lastBanner = '';
  private lastPrinted: number;
  private lastLive: number | undefined;

  /** `pollSeconds`: time between two calls of `live`; a heartbeat is printed when waiting for the next could pass `HEARTBEAT_SECONDS`. */
  constructor(
    private readonly deps: CliDeps,
    private readonly pollSeconds: number,
  ) {
    this.lastPrinted = deps.now();
  }

  private write(line: string): void {
    this.deps.out.write(`${line}\n`);
    this.lastPrinted = this.deps.now();
  }

  print(line: string, mark?: Mark): void {
    this.write(mark && mark !== 'cause' ? `${SYMBOLS[mark]} ${line}` : line);
  }

  live(view: LiveView): void {
    if (view.bannerKey !== this.lastBanner) {
      for (const l of view.banner) this.write(l);
      this.lastBanner = view.bannerKey;
    }
    if (view.key !== this.lastKey) {
      this.lastKey = view.key;
      this.write(view.time ? `${view.line} · ${view.time}` : view.line);
    }
    for (const i of view.changes) for (const l of instanceLines(i)) this.write(`  ${l}`);
    // Polls drift (each takes its own time): the next is expected within 1.5 of the longer of the poll interval and the last one.
    const now = this.deps.now();
    const interval = Math.max(this.pollSeconds * 1000, this.lastLive === undefined ? 0 : now - this.lastLive);
    this.lastLive = now;
    if (this.lastPrinted < now && now + 1.5 * interval - this.lastPrinted > HEARTBEAT_SECONDS * 1000) this.write(`… ${view.heartbeat}`);
  }

  stop(): void {}
}
