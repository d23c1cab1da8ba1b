/**
 * Fitting maxClients to the open-files limit (`ulimit -n`), as Redis does:
 * past it, accept() fails with EMFILE and libuv closes the connection at
 * once, so a client is reset with no error and no log line instead of being
 * told `max number of clients reached`.
 *
 * Node has no getrlimit. Node itself raises the soft limit to the hard one at
 * start-up, so what is read after that is what the process has. On Linux the
 * limit is read from /proc/self/limits; on other POSIX systems from
 * `ulimit -n` in a child shell, which inherits it; on Windows (no such limit
 * for sockets) nothing is fitted.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { ConfigError } from '../errors.js';

/**
 * Descriptors kept for everything but RESP clients: HTTP clients, backend
 * reconnects, log and access-log files, clients refused at maxClients while
 * they linger. Redis keeps 32 (CONFIG_MIN_RESERVED_FDS).
 */
export const RESERVED_FDS = 32;

/** The soft open-files limit; undefined when unlimited or unknown. */
export function openFilesLimit(): number | undefined {
  if (process.platform === 'win32') return undefined;
  try {
    const limits = readFileSync('/proc/self/limits', 'latin1');
    const soft = /^Max open files\s+(\S+)/m.exec(limits)?.[1];
    if (soft !== undefined) return parseLimit(soft);
  } catch {
    // not Linux: ask a shell
  }
  const shell = spawnSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'latin1', timeout: 5000 });
  return shell.status === 0 ? parseLimit(shell.stdout.trim()) : undefined;
}

function parseLimit(text: string): number | undefined {
  const n = Number(text);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** Descriptors this process has open; undefined where /dev/fd cannot be listed. */
export function openFileCount(): number | undefined {
  try {
    return readdirSync('/dev/fd').length;
  } catch {
    return undefined;
  }
}

/**
 * The maxClients the process can honour: `requested`, or fewer when the
 * open-files limit leaves no room for that many (with a warning saying so)
 * besides the descriptors open now, `willOpen` more (listeners, backend
 * connections) and RESERVED_FDS. Throws a ConfigError when it leaves room for none.
 */
export function fitMaxClients(
  requested: number,
  log: Logger,
  willOpen = 0,
  limit: number | undefined = openFilesLimit(),
  inUse: number | undefined = openFileCount(),
): number {
  if (limit === undefined) return requested;
  const open = (inUse ?? RESERVED_FDS) + willOpen;
  const room = limit - open - RESERVED_FDS;
  if (room >= requested) return requested;
  const hint = `raise it (ulimit -n ${requested + open + RESERVED_FDS}) or lower limits.maxClients`;
  if (room < 1) {
    throw new ConfigError(
      `the open-files limit (ulimit -n) of ${limit} leaves no room for clients: ` +
        `${open} are open and ${RESERVED_FDS} are kept for HTTP, backends and logs; ${hint}`,
    );
  }
  log.warn(
    { maxClients: room, requested, openFilesLimit: limit, openFiles: open, reserved: RESERVED_FDS },
    `maxClients lowered from ${requested} to ${room} to fit the open-files limit (ulimit -n ${limit}); ${hint}`,
  );
  return room;
}
