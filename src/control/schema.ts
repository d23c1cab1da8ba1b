/**
 * JSON-schema pieces the control API's routes share, and the one formatter
 * that turns ajv's errors into a sentence naming the field. The same schemas
 * validate requests, serialize answers and make GET /openapi.json (openapi.ts),
 * so the document cannot drift from what the routes take.
 */
import type { FastifySchemaValidationError } from 'fastify';

declare module 'fastify' {
  interface FastifySchema {
    /** One line for the OpenAPI document. */
    summary?: string;
    /** The OpenAPI tag (the API's section). */
    tags?: readonly string[];
  }
}

/** An object schema whose unknown fields are refused (fastify's ajv drops them silently under additionalProperties: false). */
export function closed(properties: Record<string, object>, required: string[] = []): object {
  return { type: 'object', properties, required, propertyNames: { enum: Object.keys(properties) } };
}

/** Why a change is made: kept in the audit log and the actions log. */
export const reason = { type: 'string', minLength: 1, maxLength: 1000 };

/** A body that may be left out, or be `{"reason"}`. */
export const reasonOnly = closed({ reason });

/** An answer object that may carry more fields than it lists (nothing is dropped when it is serialized). */
export function open(properties: Record<string, object>): object {
  return { type: 'object', properties, additionalProperties: true };
}

/** The JSON error body every failure answers with (http-errors.ts). */
export const errorBody = open({
  error: open({
    code: { type: 'string' },
    message: { type: 'string' },
    retryAfterMs: { type: 'integer' },
    scope: { type: 'string' },
  }),
});

/** Error answers a state-changing route can give, for its `response` schema. */
export const adminErrors = { '4xx': errorBody, '5xx': errorBody };

/** A shard id in a path: anything up to the verb's colon. */
export const shardIdParam = { type: 'object', properties: { id: { type: 'string', minLength: 1 } } };

/** ajv's errors as one sentence that names the field. */
export function schemaMessage(errors: FastifySchemaValidationError[], dataVar: string): Error {
  // An unknown field fails twice: its name against the enum of known ones, then propertyNames.
  const known = new Map<string, unknown[]>();
  for (const e of errors)
    if (e.schemaPath.includes('/propertyNames/'))
      known.set(e.instancePath, e.params.allowedValues as unknown[]);
  const parts = errors
    .filter((e) => !e.schemaPath.includes('/propertyNames/'))
    .map((e) => {
      const at = `${dataVar}${e.instancePath.replaceAll('/', '.')}`;
      if (e.keyword === 'propertyNames')
        return `${at}: unknown field '${String(e.params.propertyName)}' (known: ${(known.get(e.instancePath) ?? []).join(', ')})`;
      if (e.keyword === 'enum')
        return `${at} must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
      return `${at} ${e.message ?? 'is invalid'}`;
    });
  return new Error(parts.join('; '));
}
