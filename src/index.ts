/**
 * hotshard's public API: start a server in your own process, build its
 * configuration, and the types and errors you meet doing so. The package's
 * "exports" map exposes this file alone; the testkit and every other module
 * are internal and may change between versions.
 *
 * @example
 * import { loadConfig, startHotshard } from 'hotshard';
 * const hs = await startHotshard(loadConfig({ flags: { respPort: 6380 }, env: process.env }));
 * process.once('SIGTERM', () => void hs.close());
 */
export { startHotshard, type Hotshard } from './hotshard.js';
export { loadConfig, type Config, type ConfigInput } from './config.js';
export { ConfigError, ErrorCode, HotshardError } from './errors.js';
export { VERSION } from './version.js';
