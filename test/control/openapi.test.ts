/**
 * GET /openapi.json: every route the server has registered (read from
 * fastify's own route tree, not from the hook that builds the document) is
 * in the document with its method, path parameters, body and security; and
 * the path translation handles the verb routes, regex ids and key wildcards.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openApiPath } from '../../src/control/openapi.js';
import { startHotshard, type Hotshard } from '../../src/hotshard.js';

interface Operation {
  summary?: string;
  parameters?: { name: string; in: string; required: boolean }[];
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, unknown>;
  security: Record<string, unknown>[];
}
interface Doc {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
}

/**
 * The routes of fastify's printRoutes() tree: each line is a segment
 * indented four columns per level, with its methods when a route ends there.
 */
function registeredRoutes(tree: string): { url: string; method: string }[] {
  const out: { url: string; method: string }[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([\s│]*)[└├]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (m === null) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    for (const method of m[3]?.split(', ') ?? []) out.push({ url: stack.join(''), method });
  }
  return out;
}

describe('openapi', () => {
  let hs: Hotshard;
  let doc: Doc;
  beforeAll(async () => {
    const config = loadConfig({
      flags: {
        respPort: 0,
        httpPort: 0,
        logLevel: 'silent',
        adminToken: 'openapi-admin-token-012345',
        password: 'secret-client-pw',
      },
    });
    hs = await startHotshard(config, pino({ level: 'silent' }));
    // Open without any credential, although the server has a client password.
    const res = await hs.http.inject({ url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    doc = res.json<Doc>();
  });
  afterAll(async () => {
    await hs.close();
  });

  it('openapi - every registered route (but the HEAD beside each GET) is in the document, and nothing else is', () => {
    const routes = registeredRoutes(hs.http.printRoutes()).filter((r) => r.method !== 'HEAD');
    expect(routes.length).toBeGreaterThan(25);
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    const registered = routes.map((r) => `${r.method} ${openApiPath(r.url).path}`);
    expect([...new Set(registered)].sort()).toEqual(documented.sort());
    for (const route of [
      'GET /shards/{id}',
      'POST /shards/{id}:split',
      'POST /shards/{id}:move',
      'POST /shards/{id}:merge',
      'POST /shards/{id}:throttle',
      'POST /nodes',
      'DELETE /nodes/{id}',
      'POST /actions/{id}:cancel',
      'PATCH /actions/{id}',
      'GET /audit',
      'GET /openapi.json',
      'PUT /policies/{key}',
      'GET /kv/{key}',
    ])
      expect(documented).toContain(route);
  });

  it('openapi - operations carry their path parameters, JSON body schema, responses and the token they need', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toBe('hotshard');
    const split = doc.paths['/shards/{id}:split']!.post!;
    expect(split.parameters).toEqual([expect.objectContaining({ name: 'id', in: 'path', required: true })]);
    const body = split.requestBody?.content['application/json']?.schema as {
      type: string;
      properties: object;
    };
    expect(body.type).toBe('object');
    expect(Object.keys(body.properties)).toEqual(['at', 'reason']);
    expect(split.security).toEqual([{ adminToken: [] }]);
    expect(Object.keys(split.responses)).toEqual(expect.arrayContaining(['200', '4XX']));
    expect(doc.paths['/shards/{id}:move']!.post!.responses).toHaveProperty('202');
    expect(doc.paths['/audit']!.get!.parameters?.map((p) => [p.name, p.in])).toEqual([
      ['since', 'query'],
      ['limit', 'query'],
    ]);
    // Every {param} of every path is declared on each of its operations, as OpenAPI requires.
    for (const [path, ops] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(ops)) {
        const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
        expect(declared, `${method} ${path}`).toEqual([...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]));
      }
    expect(doc.paths['/healthz']!.get!.security).toEqual([]);
    expect(doc.paths['/shards']!.get!.security).toContainEqual({ readToken: [] });
  });

  it('openapi - paths: regex ids and escaped colons become {id}:verb, a wildcard the {key}', () => {
    expect(openApiPath('/shards/:id(^[^:]+)::split')).toEqual({ path: '/shards/{id}:split', params: ['id'] });
    expect(openApiPath('/a/:x(^(a|b)[^:]*)::go/:y')).toEqual({ path: '/a/{x}:go/{y}', params: ['x', 'y'] });
    expect(openApiPath('/kv/*')).toEqual({ path: '/kv/{key}', params: ['key'] });
    expect(openApiPath('/nodes/:id')).toEqual({ path: '/nodes/{id}', params: ['id'] });
  });
});
