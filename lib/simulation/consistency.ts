/**
 * Eventual consistency, as EC2 and SSM show it ("Eventual consistency in the Amazon EC2
 * API"): for a while after a create, a describe by id answers NotFound and a listing leaves
 * the new item out. Each created thing gets a lag of 0 to `maxLagSeconds` seconds, derived
 * from the seed and the thing's own id (not from call order), so a run is deterministic and
 * a change elsewhere in a scenario does not reshuffle every lag.
 */

/** What can lag: each is looked up in its own namespace. */
export type Visible = 'instance' | 'image' | 'launch-template-version' | 'rule' | 'parameter';

export interface ConsistencyOptions {
  /** Longest a new thing stays invisible (0: everything visible at once). */
  readonly maxLagSeconds: number;
  /** Shortest lag (default 0): a test that needs every new thing to lag sets it. */
  readonly minLagSeconds?: number;
  /** Seed of the lags. */
  readonly seed: number;
}

/** FNV-1a, 32 bits: a stable hash of a string. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export class Consistency {
  private readonly visibleAt = new Map<string, number>();

  constructor(readonly options: ConsistencyOptions) {}

  /** Records that `id` was created at `now`; returns when it becomes visible (epoch ms). */
  created(kind: Visible, id: string, now: number): number {
    const key = `${kind}:${id}`;
    const { maxLagSeconds: max, minLagSeconds: min = 0 } = this.options;
    const lag = max <= 0 ? 0 : Math.min(min, max) + (hash(`${this.options.seed}:${key}`) % (max - Math.min(min, max) + 1));
    const at = now + lag * 1000;
    this.visibleAt.set(key, at);
    return at;
  }

  /** Whether `id` shows in describes and listings at `now` (anything not created through the API, seeded, always does). */
  visible(kind: Visible, id: string, now: number): boolean {
    const at = this.visibleAt.get(`${kind}:${id}`);
    return at === undefined || now >= at;
  }
}
