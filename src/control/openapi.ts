/**
 * GET /openapi.json: an OpenAPI 3.1 document of every HTTP route, made from
 * the routes as registered (an `onRoute` hook), with the JSON schemas they
 * validate and serialize with, so it cannot drift from what they do.
 *
 * Generated here rather than by @fastify/swagger (9.x would fit Node 20 and
 * fastify 5): our paths need a translation of our own either way
 * (`/shards/:id(^[^:]+)::split` is `/shards/{id}:split`; a wildcard is the
 * percent-encoded `{key}` of /kv/ and /policies/), and the schemas need no
 * conversion (3.1 is JSON Schema), so a hundred lines do it without a
 * dependency and its transitive ones.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';
import { VERSION } from '../version.js';

/** A route as the hook saw it. */
interface SeenRoute {
  readonly method: string;
  readonly url: string;
  readonly schema: Record<string, unknown> | undefined;
  readonly access: string;
}

/** Routes seen, per app. */
const seen = new WeakMap<FastifyInstance, SeenRoute[]>();

/** Starts recording the routes of `app` (call before any route is added). */
export function collectRoutes(app: FastifyInstance): void {
  const routes: SeenRoute[] = [];
  seen.set(app, routes);
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      routes.push({
        method: method.toUpperCase(),
        url: route.url,
        schema: route.schema as Record<string, unknown> | undefined,
        access: (route.config as { access?: string } | undefined)?.access ?? 'client',
      });
    }
  });
}

/**
 * A fastify path as OpenAPI writes it, and its parameters: `:id(^re)` is
 * `{id}`, `::` a literal colon, `*` the `{key}` of the key routes.
 */
export function openApiPath(url: string): { path: string; params: string[] } {
  let path = '';
  const params: string[] = [];
  for (let i = 0; i < url.length; i++) {
    const c = url[i]!;
    if (c === '*') {
      path += '{key}';
      params.push('key');
    } else if (c !== ':') path += c;
    else if (url[i + 1] === ':') {
      path += ':';
      i++;
    } else {
      const name = /^[A-Za-z0-9_]+/.exec(url.slice(i + 1))![0];
      i += name.length;
      if (url[i + 1] === '(') {
        // Skip the regex, whose parentheses may nest.
        let depth = 0;
        do {
          i++;
          if (url[i] === '(') depth++;
          else if (url[i] === ')') depth--;
        } while (depth > 0 && i < url.length);
      }
      path += `{${name}}`;
      params.push(name);
    }
  }
  return { path, params };
}

const jsonBody = (schema: unknown): Record<string, unknown> => ({
  content: { 'application/json': { schema } },
});

function operation(route: SeenRoute, params: readonly string[]): Record<string, unknown> {
  const schema = route.schema ?? {};
  const pathSchemas =
    (schema.params as { properties?: Record<string, unknown> } | undefined)?.properties ?? {};
  const query =
    (schema.querystring as { properties?: Record<string, unknown>; required?: string[] } | undefined) ?? {};
  const parameters = [
    ...params.map((name) => ({
      name,
      in: 'path',
      required: true,
      schema: pathSchemas[name] ?? { type: 'string' },
    })),
    ...Object.entries(query.properties ?? {}).map(([name, s]) => ({
      name,
      in: 'query',
      required: query.required?.includes(name) ?? false,
      schema: s,
    })),
  ];
  const responses: Record<string, unknown> = {};
  for (const [status, s] of Object.entries((schema.response as Record<string, unknown> | undefined) ?? {}))
    responses[status.toUpperCase()] = { description: `${status} answer`, ...jsonBody(s) };
  if (!Object.keys(responses).some((k) => k.startsWith('2'))) responses['200'] = { description: 'done' };
  return {
    ...(typeof schema.summary === 'string' ? { summary: schema.summary } : {}),
    ...(Array.isArray(schema.tags) ? { tags: schema.tags } : {}),
    ...(parameters.length === 0 ? {} : { parameters }),
    ...(schema.body === undefined ? {} : { requestBody: { required: true, ...jsonBody(schema.body) } }),
    responses,
    security:
      route.access === 'public'
        ? []
        : route.access === 'admin'
          ? [{ adminToken: [] }]
          : [{}, { adminToken: [] }, { readToken: [] }, { clientPassword: [] }],
  };
}

/** The OpenAPI document of `app`'s routes (HEAD routes fastify adds beside each GET are left out). */
export function openApiDocument(app: FastifyInstance): Record<string, unknown> {
  const routes = seen.get(app);
  if (routes === undefined)
    throw new Error('openApiDocument: collectRoutes(app) was not called before the routes');
  const gets = new Set(routes.filter((r) => r.method === 'GET').map((r) => r.url));
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    if (route.method === 'HEAD' && gets.has(route.url)) continue;
    const { path, params } = openApiPath(route.url);
    (paths[path] ??= {})[route.method.toLowerCase()] = operation(route, params);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'hotshard',
      version: VERSION,
      description:
        'The HTTP API of hotshard: data under /kv/, the control plane (shards, nodes, policies, actions, audit). Errors are {"error":{"code","message"}} (docs/errors.md).',
    },
    components: {
      securitySchemes: {
        adminToken: {
          type: 'http',
          scheme: 'bearer',
          description: '--admin-token: every route, including state changes',
        },
        readToken: { type: 'http', scheme: 'bearer', description: '--read-token: every GET' },
        clientPassword: {
          type: 'http',
          scheme: 'bearer',
          description: '--password (or basic auth tenant:password)',
        },
      },
    },
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
  };
}

/** Registers GET /openapi.json (open: it shows routes, no data). */
export function registerOpenApi(app: FastifyInstance): void {
  let doc: Record<string, unknown> | undefined;
  app.get(
    '/openapi.json',
    { config: { access: 'public' }, schema: { summary: 'this document', tags: ['meta'] } },
    // Built on first use: every route is registered by then, and the routes never change after.
    () => (doc ??= openApiDocument(app)),
  );
}
