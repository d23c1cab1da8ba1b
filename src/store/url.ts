/**
 * Store URLs: which ones name PostgreSQL, checking one, and printing one
 * without its password. Kept apart from the driver so the configuration can
 * check `store` without loading pg.
 */
import { ConfigError } from '../errors.js';

/** True for the URLs the PostgreSQL store takes. */
export function isPostgresUrl(text: string): boolean {
  return /^postgres(ql)?:\/\//i.test(text);
}

/** The URL with its password masked, for logs and messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/** Checks a store URL; throws a ConfigError naming the field and what is accepted. */
export function checkPostgresUrl(url: string, field = 'store'): URL {
  const accepted = 'accepted: postgres://[user[:password]@]host[:port]/database';
  if (!isPostgresUrl(url))
    throw new ConfigError(`${field}: ${JSON.stringify(url)} is not a PostgreSQL URL; ${accepted}`);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`${field}: ${JSON.stringify(redactUrl(url))} is not a valid URL; ${accepted}`);
  }
  if (u.hostname === '') throw new ConfigError(`${field}: the URL names no host; ${accepted}`);
  if (u.pathname.length <= 1) throw new ConfigError(`${field}: the URL names no database; ${accepted}`);
  return u;
}
