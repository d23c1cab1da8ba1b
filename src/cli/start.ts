/** `hotshard start`: control plane, router and shards in one process. */
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { startHotshard, type Hotshard } from '../hotshard.js';
import { addServerFlags, fail, flagsToConfig } from './server-flags.js';

/** Stops gracefully on the first SIGINT/SIGTERM; a second one exits at once. */
export function stopOnSignals(hs: Hotshard): void {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      hs.log.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    stopping = true;
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
    try {
      const config = loadConfig({
        file: opts.config as string | undefined,
        env: process.env,
        flags: flagsToConfig(opts),
      });
      hs = await startHotshard(config);
    } catch (err) {
      fail(err);
    }
    stopOnSignals(hs);
  });
}
