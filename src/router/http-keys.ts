/**
 * Keys in /kv/ (and /policies/) URLs are bytes, percent-encoded: `%FF` is the byte 0xFF and
 * any other character stands for its UTF-8 bytes. fastify's router decodes
 * paths as UTF-8 and refuses `%FF`, which would leave keys that are not
 * UTF-8 out of reach over HTTP; so /kv/ URLs reach the router with every
 * `%` escaped (`%25`), the route parameter comes out still encoded, and
 * `decodeKey` turns it into bytes.
 */

/** Routes whose path ends in a key: the data API, and the key policies of the control API. */
const KEYED = ['/kv/', '/policies/'];

/** fastify's `rewriteUrl`: hides the escapes of a key in a /kv/ or /policies/ URL from the router's UTF-8 decoding. */
export function rewriteKvUrl(url: string): string {
  // Origin form (`/kv/...`) nearly always; absolute form (`http://host/kv/...`) is legal too.
  const start = url.startsWith('/') ? 0 : url.indexOf('/', url.indexOf('://') + 3);
  if (start < 0 || !KEYED.some((prefix) => url.startsWith(prefix, start))) return url;
  const q = url.slice(start).search(/[?#]/);
  const end = q < 0 ? url.length : start + q;
  const path = url.slice(start, end);
  if (!path.includes('%')) return url;
  return url.slice(0, start) + path.replaceAll('%', '%25') + url.slice(end);
}

const hex = (c: number): number =>
  c >= 0x30 && c <= 0x39
    ? c - 0x30
    : c >= 0x41 && c <= 0x46
      ? c - 0x37
      : c >= 0x61 && c <= 0x66
        ? c - 0x57
        : -1;

/** The key bytes of a still-encoded key, or null when an escape is malformed. */
export function decodeKey(encoded: string): Buffer | null {
  if (!encoded.includes('%')) return Buffer.from(encoded);
  const raw = Buffer.from(encoded);
  const out = Buffer.allocUnsafe(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c !== 0x25) {
      out[n++] = c;
      continue;
    }
    const hi = hex(raw[i + 1] ?? -1);
    const lo = hex(raw[i + 2] ?? -1);
    if (hi < 0 || lo < 0) return null;
    out[n++] = (hi << 4) | lo;
    i += 2;
  }
  return out.subarray(0, n);
}
