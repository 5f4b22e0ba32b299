/**
 * A fingerprint of one environment's resolved configuration: the `herd-<env>` stack carries
 * the one it was synthesized from (output `ConfigFingerprint`), and `herd doctor` compares it
 * with the local configuration's to tell whether the deployed stack is up to date with it.
 *
 * It covers the configuration only (herd.config.ts with defaults applied, the app's name and
 * its other environments), not herd's own code: a herd upgrade that changes the template
 * without changing the configuration is not seen.
 */
import { createHash } from 'node:crypto';
import type { EnvironmentConfig } from './types';

/** `value` as JSON with object keys sorted at every level (undefined members left out, as JSON does). */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined && typeof v !== 'function')
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The fingerprint (16 hex digits of a SHA-256) of `config` in app `app` with peer environments `peers`. */
export function configFingerprint(app: string, config: EnvironmentConfig, peers: readonly string[]): string {
  return createHash('sha256').update(canonicalJson({ app, config, peers: [...peers].sort() })).digest('hex').slice(0, 16);
}
