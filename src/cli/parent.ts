/**
 * How a hotshard process stops when whatever started it is gone, rather than
 * run on, orphaned, holding its ports.
 */
import { LAUNCHED_ENV } from './node-flags.js';

/**
 * How often a process started by a package manager checks its parent. Half a
 * second: a drain window (shutdownDrainMs, 5 s) dwarfs it, and the check is
 * one getppid() call.
 */
const PARENT_CHECK_MS = 500;

/**
 * In a server the launcher (bin/hotshard.js) restarted: its IPC channel must
 * not keep the process alive (commands that finish must exit), and when it
 * closes the launcher is gone (killed with SIGKILL, say), so the server
 * stops as on SIGTERM.
 */
export function followLauncher(): void {
  if (process.env[LAUNCHED_ENV] !== '1' || process.channel === undefined) return;
  delete process.env[LAUNCHED_ENV];
  process.channel.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}

/**
 * In the process a package manager started (`npx hotshard`, `npm exec`, an
 * npm script): once its parent is gone, it acts as on SIGTERM (a launcher
 * relays it to the server, a server drains). npm relays a SIGTERM only to the
 * `sh -c` it runs a bin with, and sh dies of it without passing it on, so
 * `kill <pid of npx>` would otherwise leave hotshard running; node has no
 * parent-death signal, hence a check of getppid() (an orphan is adopted by
 * init or a subreaper). Only under a package manager (npm, yarn and pnpm set
 * npm_lifecycle_event): a process started with `nohup` or `&` from a shell
 * must outlive that shell.
 */
export function followPackageManager(env: NodeJS.ProcessEnv = process.env): void {
  if (env.npm_lifecycle_event === undefined || env[LAUNCHED_ENV] === '1') return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    process.kill(process.pid, 'SIGTERM');
  }, PARENT_CHECK_MS);
  timer.unref();
}
