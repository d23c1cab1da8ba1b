/** `hotshard start`: control plane, router and shards in one process. */
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { startHotshard, type Hotshard } from '../hotshard.js';
import { addServerFlags, apiBanner, fail, flagsToConfig, warnConfig } from './server-flags.js';

/**
 * A stop signal repeated within this long counts once: systemd sends SIGTERM
 * to every process of the unit and a terminal's Ctrl-C goes to the whole job,
 * so a server started by bin/hotshard.js gets each of those twice, directly
 * and relayed by the launcher, milliseconds apart.
 */
const REPEAT_SIGNAL_MS = 1000;

/**
 * Stops gracefully on the first SIGINT/SIGTERM; another one at least
 * REPEAT_SIGNAL_MS later exits at once.
 */
export function stopOnSignals(hs: Hotshard): void {
  let firstAt: number | undefined;
  const stop = (signal: string): void => {
    const now = performance.now();
    if (firstAt !== undefined) {
      if (now - firstAt < REPEAT_SIGNAL_MS) return;
      hs.log.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    firstAt = now;
    hs.log.info({ signal }, 'shutting down: draining in-flight requests');
    hs.close().then(
      () => process.exit(0),
      (err: unknown) => {
        hs.log.error({ err }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

/** Registers `start`. */
export function addStartCommand(program: Command): void {
  addServerFlags(
    program.command('start').description('run the router, control plane and (embedded) shards'),
  ).action(async (opts: Record<string, unknown>) => {
    let hs: Hotshard;
    // "hotshard ready" is logged before startHotshard returns, and a stop
    // signal sent on seeing it must drain, not meet node's default action
    // (exit) in the moment before stopOnSignals: hold it until then.
    let early: NodeJS.Signals | undefined;
    const hold = (signal: NodeJS.Signals): void => {
      early ??= signal;
    };
    process.on('SIGINT', hold);
    process.on('SIGTERM', hold);
    try {
      const config = loadConfig({
        file: opts.config as string | undefined,
        env: process.env,
        warn: warnConfig,
        flags: flagsToConfig(opts),
      });
      hs = await startHotshard(config);
    } catch (err) {
      fail(err);
    }
    process.off('SIGINT', hold);
    process.off('SIGTERM', hold);
    console.log(apiBanner(hs));
    stopOnSignals(hs);
    if (early !== undefined) process.kill(process.pid, early);
  });
}
