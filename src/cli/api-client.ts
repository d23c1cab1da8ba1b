/**
 * What the commands that talk to a running hotshard's control API share
 * (`policies`, `actions`, `automation`): the --url and --token flags, the
 * request, the error printed with its code, the exit codes, and tables.
 *
 * Exit codes: 0 done; 1 the server refused or failed (its status and code
 * printed); 2 bad flags or arguments; 3 no server answered at --url.
 */
import type { Command } from 'commander';

/** Exit codes of the control commands. */
export const Exit = { Ok: 0, Refused: 1, Usage: 2, Unreachable: 3 } as const;

/** Where the API is and how to authenticate. */
export interface ApiFlags {
  url: string;
  token?: string;
}

/** Adds --url and --token to a command, and makes its usage errors exit 2. */
export function withApiFlags(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'hotshard HTTP API', 'http://127.0.0.1:8080')
    .option(
      '--token <token>',
      'Bearer token (default: HOTSHARD_ADMIN_TOKEN, else HOTSHARD_READ_TOKEN for reads)',
    )
    .exitOverride((err) => process.exit(err.exitCode === 0 ? Exit.Ok : Exit.Usage));
}

/** A control-command failure: the message to print and the exit code. */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** The token to send: the flag, else the admin token from the environment, else (for reads) the read-only one. */
function tokenFor(flags: ApiFlags, write: boolean): string | undefined {
  const env = process.env;
  return (
    flags.token ??
    (env.HOTSHARD_ADMIN_TOKEN || undefined) ??
    (write ? undefined : env.HOTSHARD_READ_TOKEN || undefined)
  );
}

/** Calls the API; resolves with the JSON body of a 2xx answer, throws CliFailure otherwise. */
export async function callApi<T>(flags: ApiFlags, method: string, path: string, body?: unknown): Promise<T> {
  let base: URL;
  try {
    base = new URL(flags.url);
  } catch {
    throw new CliFailure(
      `--url must be a URL like http://127.0.0.1:8080, got ${JSON.stringify(flags.url)}`,
      Exit.Usage,
    );
  }
  const url = new URL(path, base);
  const token = tokenFor(flags, method !== 'GET');
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new CliFailure(
      `no hotshard answers at ${base.origin} (${cause?.code ?? cause?.message ?? (err as Error).message}); is it running? (--url)`,
      Exit.Unreachable,
    );
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text.length === 0 ? {} : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (res.ok) return json as T;
  const error = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
  const hint = res.status === 401 && token === undefined ? ' (give --token or set HOTSHARD_ADMIN_TOKEN)' : '';
  throw new CliFailure(
    `${res.status} ${error?.code ?? 'HS_ERR_HTTP'}: ${error?.message ?? text}${hint}`,
    Exit.Refused,
  );
}

/** Runs a command's work, printing a failure as `hotshard <command>: ...` and exiting with its code. */
export async function runCli(command: string, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (err) {
    if (!(err instanceof CliFailure)) throw err;
    console.error(`hotshard ${command}: ${err.message}`);
    process.exit(err.exitCode);
  }
}

/** Left-aligned columns with a header row; cells longer than `max` are cut with an ellipsis. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], max = 60): string {
  const cut = (s: string): string => (s.length > max ? `${s.slice(0, max - 1)}…` : s);
  const all = [header, ...rows].map((r) => r.map(cut));
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '))
    .join('\n');
}

/** A time as the operator reads it: ISO 8601 in UTC, to the second. */
export function when(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Parses an integer argument or throws a usage failure naming the flag. */
export function intFlag(text: string | undefined, flag: string, min: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min)
    throw new CliFailure(`${flag} must be an integer ≥ ${min}, got ${JSON.stringify(text)}`, Exit.Usage);
  return n;
}

/** A key as a URL path segment: its UTF-8 bytes percent-encoded, as /kv/ and /policies/ read them. */
export function keyPath(key: string): string {
  return encodeURIComponent(key);
}
