/** Flags shared by the commands that send traffic (`load`, `replay`): the target and integer options. */
import { ConfigError } from '../errors.js';
import { parseRespAddress, type TargetSpec } from '../load/targets.js';

/** Parses an optional integer flag; throws ConfigError naming the flag and the range. */
export function optionalInt(
  text: string | undefined,
  flag: string,
  min: number,
  max: number,
): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!(/^\d+$/.test(text.trim()) && Number.isSafeInteger(v) && v >= min && v <= max))
    throw new ConfigError(`${flag} must be an integer in [${min}, ${max}], got ${JSON.stringify(text)}`);
  return v;
}

/** `--resp host:port` or `--http URL` (exactly one), with `--password` (AUTH over RESP, Bearer over HTTP) and `--connections`. */
export function targetFromFlags(flags: {
  resp?: string | undefined;
  http?: string | undefined;
  password?: string | undefined;
  connections?: string | undefined;
}): TargetSpec {
  if ((flags.resp === undefined) === (flags.http === undefined))
    throw new ConfigError('give exactly one target: --resp host:port or --http URL');
  const connections = optionalInt(flags.connections, '--connections', 1, 10_000);
  if (flags.resp !== undefined) {
    return {
      kind: 'resp',
      ...parseRespAddress(flags.resp),
      ...(flags.password !== undefined ? { password: flags.password } : {}),
      ...(connections !== undefined ? { connections } : {}),
    };
  }
  let url: URL;
  try {
    url = new URL(flags.http!);
  } catch {
    throw new ConfigError(
      `--http must be a URL like http://127.0.0.1:8080, got ${JSON.stringify(flags.http)}`,
    );
  }
  if (url.protocol !== 'http:')
    throw new ConfigError(`--http supports http:// URLs only, got ${JSON.stringify(flags.http)}`);
  return {
    kind: 'http',
    url: url.href,
    ...(flags.password !== undefined ? { password: flags.password } : {}),
    ...(connections !== undefined ? { connections } : {}),
  };
}
