/**
 * What a configuration error or warning tells the operator beyond zod's
 * issue: the fields of the section at fault, the value given (never a
 * secret), and the setting a mistyped HOTSHARD_* variable was meant to be.
 */
import { z } from 'zod';

/** Fields whose values a message must not echo. */
const SECRET = /password|secret|token/i;

/** The fields of the object schema at `path` inside `root` (its own for []); [] when there is none. */
export function fieldsAt(root: z.core.$ZodType, path: readonly PropertyKey[]): string[] {
  let schema: z.core.$ZodType | undefined = root;
  for (let i = 0; ; i++) {
    // past defaults, optionals and preprocessing to the object itself
    for (;;) {
      const def: z.core.$ZodTypeDef = schema._zod.def;
      if ('innerType' in def) schema = def.innerType as z.core.$ZodType;
      else if (def.type === 'pipe') schema = (def as z.core.$ZodPipeDef).out;
      else break;
    }
    // an entry of a list (tenant.declared.0): its element's fields
    if (schema instanceof z.ZodArray && i < path.length && typeof path[i] === 'number') {
      schema = schema.element;
      continue;
    }
    if (!(schema instanceof z.ZodObject)) return [];
    if (i === path.length) return Object.keys(schema.shape);
    schema = schema.shape[String(path[i])] as z.core.$ZodType | undefined;
    if (schema === undefined) return [];
  }
}

/**
 * `; got "abc"` for the string or number given at `path`, as written (zod
 * reports it after coercion: "received NaN"); '' for other values and for
 * anything under a secret's name.
 */
export function givenValue(input: unknown, path: readonly PropertyKey[]): string {
  if (path.some((key) => SECRET.test(String(key)))) return '';
  let v = input;
  for (const key of path)
    v = typeof v === 'object' && v !== null ? (v as Record<PropertyKey, unknown>)[key] : undefined;
  return typeof v === 'string' || typeof v === 'number' ? `; got ${JSON.stringify(v)}` : '';
}

/** A warning for each HOTSHARD_* variable in `env` that is neither `known` nor `other`, naming the nearest known one. */
export function unknownEnvWarnings(
  env: NodeJS.ProcessEnv,
  known: readonly string[],
  other: ReadonlySet<string>,
): string[] {
  return Object.keys(env)
    .filter((name) => name.startsWith('HOTSHARD_') && !known.includes(name) && !other.has(name))
    .map((name) => {
      const nearest = known.reduce((a, b) => (editDistance(name, b) < editDistance(name, a) ? b : a));
      const hint =
        editDistance(name, nearest) <= 3 ? `did you mean ${nearest}?` : `known: ${known.join(', ')}`;
      return `${name} is not a setting hotshard reads (ignored); ${hint}`;
    });
}

/** Levenshtein distance, for "did you mean". */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}
