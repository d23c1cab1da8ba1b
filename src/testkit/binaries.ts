import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Debian packages that provide the binaries tests need, for the skip notice. */
const aptPackages: Readonly<Record<string, string>> = {
  'redis-server': 'redis-server',
  'redis-cli': 'redis-tools',
  'redis-benchmark': 'redis-tools',
  nutcracker: 'nutcracker',
  chromium: 'chromium',
  postgres: 'postgresql',
  psql: 'postgresql-client',
};

const found = new Map<string, boolean>();

/**
 * True when `name` is an executable file in a directory of `PATH` (or, when
 * `name` contains a slash, when that path is executable).
 *
 * @example
 * if (hasBinary('nutcracker')) runTwemproxyPeer();
 */
export function hasBinary(name: string): boolean {
  const cached = found.get(name);
  if (cached !== undefined) return cached;
  const candidates = name.includes('/')
    ? [name]
    : (process.env.PATH ?? '')
        .split(delimiter)
        .filter((dir) => dir !== '')
        .map((dir) => join(dir, name));
  const result = candidates.some(isExecutableFile);
  found.set(name, result);
  return result;
}

/** CI systems set CI=true (or 1); an explicit CI=false or CI=0 means a developer's machine. */
function inCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

/** True when `path` is an executable regular file. */
export function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Decides whether tests that need `name` should run. Returns true when the
 * binary is installed. When it is not: in CI (`process.env.CI` set) it throws,
 * because there those tests must run; elsewhere it prints one notice line and
 * returns false, so the caller can skip.
 *
 * @example
 * const hasRedis = requireBinary('redis-server', 'Redis backend tests');
 * describe.skipIf(!hasRedis)('redis backend', () => { ... });
 */
export function requireBinary(name: string, what = `tests that need ${name}`): boolean {
  if (hasBinary(name)) return true;
  const install = `apt-get install ${aptPackages[name] ?? name}`;
  if (inCi()) {
    throw new Error(`[hotshard] ${what} must run in CI but ${name} is not installed (${install})`);
  }
  process.stderr.write(`[hotshard] skipping ${what}: ${name} not installed (${install})\n`);
  return false;
}
