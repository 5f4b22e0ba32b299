/**
 * One command at a time in a sandbox: `<dir>/lock` holds the pid and command line of the
 * command using it. A live holder makes another command refuse, naming it; the lock of a
 * process that died (killed, crashed) is taken over.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CliError, EXIT } from '../cli/errors';

interface LockHolder {
  readonly pid: number;
  readonly command: string;
}

export function lockPath(dir: string): string {
  return path.join(dir, 'lock');
}

/** Whether process `pid` runs (signal 0 checks without signalling; EPERM: it runs as someone else). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function holderOf(file: string): LockHolder | undefined {
  try {
    const holder = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<LockHolder>;
    return typeof holder.pid === 'number' ? { pid: holder.pid, command: String(holder.command ?? '?') } : undefined;
  } catch {
    return undefined; // unreadable: nobody can be holding it
  }
}

/**
 * Takes the lock of the sandbox in `dir` for `command` (this process); returns its release.
 * Throws a `CliError` naming the holder when another live process holds it.
 */
export function acquireLock(dir: string, command: string): () => void {
  fs.mkdirSync(dir, { recursive: true });
  const file = lockPath(dir);
  const mine = JSON.stringify({ pid: process.pid, command });
  for (;;) {
    try {
      fs.writeFileSync(file, mine, { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = holderOf(file);
      if (holder && holder.pid !== process.pid && alive(holder.pid)) {
        throw new CliError(`the sandbox is in use by \`${holder.command}\` (pid ${holder.pid}): wait for it to end (Ctrl-C detaches a deploy), then run this command again`, EXIT.failed);
      }
      // Its holder died (or it is this process's own): take it over.
      fs.rmSync(file, { force: true });
    }
  }
  return () => {
    if (holderOf(file)?.pid === process.pid) fs.rmSync(file, { force: true });
  };
}
