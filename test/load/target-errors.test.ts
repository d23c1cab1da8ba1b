/**
 * How the load generator counts an error it reads off the wire: by the code
 * (else the class) that parseWireError finds in RESP text, or the code in the
 * HTTP JSON body; throttled and node-overloaded replies count as shed, with
 * the wait the target asked for. The targets are tiny canned servers so each
 * error is exactly the documented bytes.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { openTarget, respError, type RequestError, type Target } from '../../src/load/targets.js';

const servers: Array<Server | HttpServer> = [];
const targets: Target[] = [];
afterEach(async () => {
  await Promise.all(targets.splice(0).map((t) => t.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A RESP server that answers PING with PONG and every GET with `-<error>`. */
async function respServer(error: string): Promise<number> {
  const server = createServer((socket) => {
    socket.on('data', (chunk) => {
      for (const m of chunk.toString('latin1').matchAll(/\$4\r\nPING\r\n|\$3\r\nGET\r\n/g))
        socket.write(m[0].includes('PING') ? '+PONG\r\n' : `-${error}\r\n`);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** An HTTP server that answers everything with `status` and `body`. */
async function httpServer(status: number, body: unknown): Promise<number> {
  const server = createHttpServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

function get(t: Target): Promise<RequestError | null> {
  return new Promise((resolve) => t.send(0, { op: 'get', tenant: '', keys: ['k'] }, (err) => resolve(err)));
}

describe('load targets - errors off the wire', () => {
  it('targets - a RESP throttled error is shed, with its code as kind and its retry-after', async () => {
    const text = 'BUSY HS_ERR_THROTTLED retry-after-ms=250 scope=tenant tenant a is over its quota';
    const port = await respServer(text);
    const t = await openTarget(
      { kind: 'resp', host: '127.0.0.1', port, connections: 1 },
      { timeoutMs: 10_000 },
    );
    targets.push(t);
    expect(await get(t)).toEqual({
      kind: ErrorCode.Throttled,
      message: text,
      sent: true,
      shed: true,
      retryAfterMs: 250,
    });
  });

  it('targets - RESP errors by kind: code when there is one, else the class; only the shed codes are shed', () => {
    expect(respError('BUSY HS_ERR_NODE_OVERLOADED node n1 is full')).toMatchObject({
      kind: ErrorCode.NodeOverloaded,
      shed: true,
    });
    expect(respError('ERR HS_ERR_SHARD_UNAVAILABLE node n1 is down')).toMatchObject({
      kind: ErrorCode.ShardUnavailable,
      shed: false,
    });
    expect(respError('WRONGTYPE Operation against a key')).toMatchObject({ kind: 'WRONGTYPE', shed: false });
    // Redis's own BUSY (a script running) is not a hotshard refusal: nothing says retrying is safe.
    expect(respError('BUSY Redis is busy running a script.')).toMatchObject({ kind: 'BUSY', shed: false });
  });

  it('targets - an HTTP 429 takes code and retryAfterMs from the JSON body', async () => {
    const port = await httpServer(429, {
      error: { code: 'HS_ERR_THROTTLED', message: 'over', retryAfterMs: 1200, scope: 'key' },
    });
    const t = await openTarget(
      { kind: 'http', url: `http://127.0.0.1:${port}`, connections: 1 },
      { timeoutMs: 10_000 },
    );
    targets.push(t);
    expect(await get(t)).toEqual({
      kind: ErrorCode.Throttled,
      message: '429: over',
      sent: true,
      shed: true,
      retryAfterMs: 1200,
    });
  });

  it('targets - an HTTP 503 node-overloaded is shed, an unavailable shard is not', async () => {
    const over = await httpServer(503, { error: { code: 'HS_ERR_NODE_OVERLOADED', message: 'full' } });
    const down = await httpServer(503, { error: { code: 'HS_ERR_SHARD_UNAVAILABLE', message: 'down' } });
    for (const [port, kind, shed] of [
      [over, ErrorCode.NodeOverloaded, true],
      [down, ErrorCode.ShardUnavailable, false],
    ] as const) {
      const t = await openTarget(
        { kind: 'http', url: `http://127.0.0.1:${port}`, connections: 1 },
        { timeoutMs: 10_000 },
      );
      targets.push(t);
      expect(await get(t)).toMatchObject({ kind, shed });
    }
  });
});
