/**
 * Key patterns as operators write them in the mitigation config (`counters:
 * ["likes:*"]`, `strong: ["balance:*"]`, `doNotTouch: [...]`): Redis's own
 * glob syntax, the one KEYS and SCAN MATCH take, so a pattern that selects
 * the keys in redis-cli selects them here too.
 *
 * `*` any run of characters, `?` one character, `[abc]` / `[a-z]` / `[^a]`
 * one of a set, `\x` the character x itself. Patterns match the key as its
 * printable text (the form hotspots and actions name keys by).
 */

/** Why a pattern is refused (config validation names the field and this). */
export function patternProblem(pattern: string): string | null {
  if (pattern.length === 0) return 'an empty pattern matches no key';
  let open = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') i++;
    else if (c === '[' && !open) open = true;
    else if (c === ']' && open) open = false;
  }
  if (open) return `unclosed '[' in ${JSON.stringify(pattern)}`;
  if (pattern.endsWith('\\') && !pattern.endsWith('\\\\'))
    return `trailing '\\' in ${JSON.stringify(pattern)}`;
  return null;
}

const SPECIAL = /[.*+?^${}()|[\]\\/-]/g;
const escape = (s: string): string => s.replace(SPECIAL, '\\$&');

/** The pattern as an anchored regular expression. */
function compile(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      out += escape(pattern[++i] ?? '');
    } else if (c === '*') {
      out += '[\\s\\S]*';
    } else if (c === '?') {
      out += '[\\s\\S]';
    } else if (c === '[') {
      let set = '';
      let j = i + 1;
      if (pattern[j] === '^') {
        set += '^';
        j++;
      }
      for (; j < pattern.length && pattern[j] !== ']'; j++) {
        const d = pattern[j]!;
        if (d === '\\') set += escape(pattern[++j] ?? '');
        else if (d === '-' && set !== '' && set !== '^' && pattern[j + 1] !== ']') set += '-';
        else set += escape(d);
      }
      out += set === '' || set === '^' ? (set === '' ? '(?!)' : '[\\s\\S]') : `[${set}]`;
      i = j;
    } else {
      out += escape(c);
    }
  }
  return new RegExp(`^${out}$`);
}

/**
 * A compiled list of patterns.
 * @example new KeyPatterns(['likes:*']).matches('likes:post-1') // true
 */
export class KeyPatterns {
  readonly patterns: readonly string[];
  readonly #res: readonly RegExp[];

  /** Throws a RangeError naming the bad pattern (config validation catches these first). */
  constructor(patterns: readonly string[]) {
    for (const p of patterns) {
      const problem = patternProblem(p);
      if (problem !== null) throw new RangeError(problem);
    }
    this.patterns = [...patterns];
    this.#res = patterns.map(compile);
  }

  /** Whether any pattern matches `key`. */
  matches(key: string): boolean {
    return this.#res.some((re) => re.test(key));
  }

  /** The first pattern that matches `key`, for reasons ("matches counters pattern likes:*"), or null. */
  match(key: string): string | null {
    const i = this.#res.findIndex((re) => re.test(key));
    return i < 0 ? null : this.patterns[i]!;
  }
}
