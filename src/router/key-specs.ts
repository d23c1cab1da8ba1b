/**
 * Redis 7's key specifications: where a command's keys are in its arguments,
 * as `COMMAND INFO` reports them (begin_search, find_keys). Parsed once from
 * the generated table or a backend's reply; `keyPositions` follows Redis's own
 * getKeysUsingKeySpecs so the router finds the same keys a node would, for
 * commands whose keys move (ZUNION's numkeys, SORT ... STORE, XREAD STREAMS).
 */

/** Where the search for keys starts: a fixed index, or just after a keyword. */
export type BeginSearch =
  readonly ['index', number] | readonly ['keyword', string, number] | readonly ['unknown'];

/** How many keys follow: a range (lastkey, step, limit) or a count argument (keynumidx, firstkey, step). */
export type FindKeys =
  | readonly ['range', number, number, number]
  | readonly ['keynum', number, number, number]
  | readonly ['unknown'];

/** One key spec of a command. */
export interface KeySpec {
  readonly flags: readonly string[];
  readonly begin: BeginSearch;
  readonly find: FindKeys;
}

/** One command as Redis describes it (COMMAND INFO, plus COMMAND DOCS' group, summary, since). */
export interface RedisCommandInfo {
  /** Lower case; a subcommand is `container|sub`. */
  readonly name: string;
  readonly arity: number;
  readonly flags: readonly string[];
  readonly firstKey: number;
  readonly lastKey: number;
  readonly step: number;
  readonly acl: readonly string[];
  readonly keySpecs: readonly KeySpec[];
  readonly subcommands: readonly RedisCommandInfo[];
  readonly group: string;
  readonly summary: string;
  readonly since: string;
}

function str(x: unknown): string {
  return Buffer.isBuffer(x)
    ? x.toString('utf8')
    : typeof x === 'object' && x !== null && 'value' in x
      ? String(x.value)
      : String(x);
}

function pairs(a: unknown): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (!Array.isArray(a)) return out;
  for (let i = 0; i + 1 < a.length; i += 2) out.set(str(a[i]), a[i + 1]);
  return out;
}

function num(x: unknown): number {
  const n = typeof x === 'number' ? x : Number(str(x));
  if (!Number.isInteger(n)) throw new Error(`not an integer in COMMAND INFO: ${str(x)}`);
  return n;
}

function parseKeySpec(raw: unknown): KeySpec {
  const m = pairs(raw);
  const bs = pairs(m.get('begin_search'));
  const bsSpec = pairs(bs.get('spec'));
  let begin: BeginSearch = ['unknown'];
  if (str(bs.get('type')) === 'index') begin = ['index', num(bsSpec.get('index'))];
  else if (str(bs.get('type')) === 'keyword')
    begin = ['keyword', str(bsSpec.get('keyword')).toLowerCase(), num(bsSpec.get('startfrom'))];
  const fk = pairs(m.get('find_keys'));
  const fkSpec = pairs(fk.get('spec'));
  let find: FindKeys = ['unknown'];
  if (str(fk.get('type')) === 'range')
    find = ['range', num(fkSpec.get('lastkey')), num(fkSpec.get('keystep')), num(fkSpec.get('limit'))];
  else if (str(fk.get('type')) === 'keynum')
    find = ['keynum', num(fkSpec.get('keynumidx')), num(fkSpec.get('firstkey')), num(fkSpec.get('keystep'))];
  const flags = m.get('flags');
  return { flags: Array.isArray(flags) ? flags.map((f) => str(f)) : [], begin, find };
}

/**
 * One entry of a `COMMAND INFO` reply (RESP2: flat arrays; RESP3 maps decoded
 * as flat arrays too) as a RedisCommandInfo without docs. Throws on a shape
 * that is not Redis 7's.
 */
export function parseCommandInfo(raw: unknown): RedisCommandInfo {
  if (!Array.isArray(raw) || raw.length < 6)
    throw new Error('COMMAND INFO entry is not an array of 6+ items');
  const list = (x: unknown): string[] => (Array.isArray(x) ? x.map((f) => str(f).toLowerCase()) : []);
  return {
    name: str(raw[0]).toLowerCase(),
    arity: num(raw[1]),
    flags: list(raw[2]),
    firstKey: num(raw[3]),
    lastKey: num(raw[4]),
    step: num(raw[5]),
    acl: list(raw[6]),
    keySpecs: Array.isArray(raw[8]) ? raw[8].map(parseKeySpec) : [],
    subcommands: Array.isArray(raw[9]) ? raw[9].map(parseCommandInfo) : [],
    group: '',
    summary: '',
    since: '',
  };
}

/** Why the keys of a command could not be found (Redis would reject its arguments). */
export const NO_KEYS: readonly number[] = Object.freeze([]);

function eqKeyword(arg: Buffer, keyword: string): boolean {
  return arg.length === keyword.length && arg.toString('latin1').toLowerCase() === keyword;
}

/**
 * The argument indexes of the keys of `args` (the command name at 0) by the
 * key specs, in spec order, as Redis finds them; NO_KEYS when a spec's
 * numkeys is not a count or points past the arguments (Redis then rejects the
 * command itself).
 */
export function keyPositions(specs: readonly KeySpec[], args: readonly Buffer[]): readonly number[] {
  const argc = args.length;
  let out: number[] | undefined;
  for (const spec of specs) {
    let first: number;
    const b = spec.begin;
    if (b[0] === 'index') first = b[1];
    else if (b[0] === 'keyword') {
      first = 0;
      const start = b[2];
      if (start >= 0) {
        for (let i = start; i < argc; i++)
          if (eqKeyword(args[i]!, b[1])) {
            first = i + 1;
            break;
          }
      } else {
        for (let i = argc + start; i > 0; i--)
          if (eqKeyword(args[i]!, b[1])) {
            first = i + 1;
            break;
          }
      }
      if (first === 0) continue; // the keyword is absent: this spec names no keys
    } else continue; // found by the command's own code (SORT's STORE: sortKeys), not by a spec
    if (first >= argc) {
      if (spec.flags.includes('incomplete')) continue;
      // A spec for "the rest of the arguments" finds none when there are none:
      // PFMERGE dest has no sources. Redis's key specs call that invalid
      // (COMMAND GETKEYS PFMERGE d fails) and run it wherever it lands; here
      // it goes where its other keys live, as PFMERGE dest s1 does.
      if (out !== undefined && spec.find[0] === 'range' && spec.find[1] < 0) continue;
      return NO_KEYS;
    }
    let last: number;
    let step: number;
    const f = spec.find;
    if (f[0] === 'range') {
      const [, lastkey, keystep, limit] = f;
      step = keystep;
      if (lastkey >= 0) last = first + lastkey;
      else if (limit <= 1) last = argc + lastkey;
      else last = first + Math.floor((argc - first) / limit) + lastkey;
    } else if (f[0] === 'keynum') {
      const [, keynumidx, firstkey, keystep] = f;
      const at = first + keynumidx;
      if (at >= argc) return NO_KEYS;
      const text = args[at]!.toString('latin1');
      const n = /^-?\d{1,18}$/.test(text) ? Number(text) : NaN;
      if (!Number.isInteger(n) || n < 0) return NO_KEYS;
      first += firstkey;
      step = keystep;
      last = first + (n - 1) * keystep;
    } else return NO_KEYS;
    if (step <= 0) return NO_KEYS;
    for (let i = first; i <= last; i += step) {
      if (i >= argc) {
        if (spec.flags.includes('incomplete')) break;
        return NO_KEYS;
      }
      (out ??= []).push(i);
    }
  }
  return out ?? NO_KEYS;
}

/**
 * SORT's and SORT_RO's keys as Redis's sortGetKeys finds them: the key at 1
 * and, for SORT, the last STORE's destination (LIMIT's, BY's and GET's
 * arguments skipped).
 */
export function sortKeys(args: readonly Buffer[]): readonly number[] {
  const out = [1];
  let store = 0;
  for (let i = 2; i < args.length; i++) {
    const a = args[i]!.length <= 5 ? args[i]!.toString('latin1').toLowerCase() : '';
    if (a === 'limit') i += 2;
    else if (a === 'get' || a === 'by') i += 1;
    else if (a === 'store' && i + 1 < args.length) {
      store = i + 1;
      i += 1;
    }
  }
  if (store !== 0) out.push(store);
  return out;
}

/**
 * A BY or GET pattern of SORT that reads keys other than the sorted one
 * (`weight_*`, `obj_*->f`) and not only on its shard (`onShard` says which
 * do); undefined when there is none (`BY nosort`, `GET #`, `{user1}:w_*`).
 */
export function sortPattern(
  args: readonly Buffer[],
  onShard: (pattern: Buffer) => boolean = () => false,
): string | undefined {
  for (let i = 2; i + 1 < args.length; i++) {
    const a = args[i]!.length <= 5 ? args[i]!.toString('latin1').toLowerCase() : '';
    if (a === 'limit') i += 2;
    else if (a === 'by' || a === 'get') {
      const p = args[i + 1]!.toString('utf8');
      if (p.includes('*') && !(a === 'get' && p === '#') && !onShard(args[i + 1]!))
        return `${a.toUpperCase()} ${p}`;
      i += 1;
    } else if (a === 'store') i += 1;
  }
  return undefined;
}
