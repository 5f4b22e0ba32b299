/** A virtual clock: time moves only when the simulation says so. */
import type { Clock } from '../../lambda/deploy/clients';

/** 2026-11-05T10:00:00Z: simulations start here so their output is stable. */
export const SIMULATION_EPOCH = Date.UTC(2026, 10, 5, 10, 0, 0);

export class VirtualClock implements Clock {
  private ms: number;

  constructor(start = SIMULATION_EPOCH) {
    this.ms = start;
  }

  now(): number {
    return this.ms;
  }

  /** Seconds since the simulation began. */
  elapsedSeconds(): number {
    return Math.round((this.ms - SIMULATION_EPOCH) / 1000);
  }

  /** Moves time forward; only the fake cloud should call this (it ticks its processes). */
  set(ms: number): void {
    if (ms < this.ms) throw new Error(`virtual time cannot go back (${ms} < ${this.ms})`);
    this.ms = ms;
  }
}
