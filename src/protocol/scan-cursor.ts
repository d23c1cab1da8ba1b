/**
 * A SCAN-family cursor argument as Redis reads it (parseScanCursorOrReply):
 * strtoul in base 10, so a sign is allowed and a negative number wraps
 * modulo 2^64 ("-1" is the largest cursor), an empty argument is 0, the
 * first NUL ends the number, and leading space or anything else after the
 * digits is an error. Clients that send "-1" or "+0" get what Redis gives them.
 */

const WRAP = 1n << 64n;

/** The cursor as an unsigned 64-bit integer, or undefined where Redis answers "ERR invalid cursor". */
export function parseScanCursor(arg: Buffer): bigint | undefined {
  const nul = arg.indexOf(0);
  const text = (nul === -1 ? arg : arg.subarray(0, nul)).toString('latin1');
  if (text === '') return 0n;
  const m = /^([+-]?)(\d+)$/.exec(text);
  if (m === null) return undefined;
  const magnitude = BigInt(m[2]!);
  if (magnitude >= WRAP) return undefined; // strtoul's ERANGE, whatever the sign
  return m[1] === '-' && magnitude !== 0n ? WRAP - magnitude : magnitude;
}
