/** Tables for people, JSON for scripts. */
import Table from 'cli-table3';
import type { Writer } from './deps';

/** A plain table (no colours: it is read in terminals and in logs alike). */
export function table(head: string[], rows: (string | number)[][]): string {
  const t = new Table({ head, style: { head: [], border: [] } });
  for (const r of rows) t.push(r.map((c) => String(c)));
  return t.toString();
}

export function writeJson(out: Writer, value: unknown): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** `--json` on a read command. */
export const JSON_OPTION = ['--json', 'machine-readable output (no tables, colours or spinners)'] as const;
