/** A request as the router hands it to a backend. */
export interface Command {
  /** Lower-case command name (`"get"`). */
  readonly name: string;
  /** Every argument including the command name at index 0, binary-safe. */
  readonly args: readonly Buffer[];
  /**
   * The request exactly as it arrived, in RESP multi-bulk form, when it can be
   * forwarded unchanged; a Redis backend writes these bytes without re-encoding.
   * Undefined for inline commands, HTTP requests and commands the router rebuilt
   * (a multi-key command split across shards).
   */
  readonly frame: Buffer | undefined;
}

/** Builds a command from string or Buffer arguments (tests, HTTP, the router's own sub-commands). */
export function makeCommand(...args: ReadonlyArray<string | Buffer>): Command {
  const bufs = args.map((a) => (typeof a === 'string' ? Buffer.from(a) : a));
  const first = bufs[0];
  if (first === undefined) throw new TypeError('makeCommand needs at least the command name');
  return { name: first.toString('latin1').toLowerCase(), args: bufs, frame: undefined };
}
