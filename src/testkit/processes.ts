/**
 * Child processes the testkit starts (redis-server, nutcracker) are killed,
 * and their temporary directories removed, when the test process exits, so a
 * failed test never leaves servers behind.
 */
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

const live = new Map<ChildProcess, string>();
let exitHookInstalled = false;

/** Kills `child` and removes `dir` if the process exits before `untrack`. */
export function track(child: ChildProcess, dir: string): void {
  live.set(child, dir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous; SIGKILL needs no waiting.
  process.on('exit', () => {
    for (const [c, d] of live) {
      c.kill('SIGKILL');
      rmSync(d, { recursive: true, force: true });
    }
  });
}

/** Forgets a child that has been stopped. */
export function untrack(child: ChildProcess): void {
  live.delete(child);
}
