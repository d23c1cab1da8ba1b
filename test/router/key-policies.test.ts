/**
 * The key-policy stage: a key with a policy is served by its handler, every
 * other key by the plain route, and each key of a multi-key command on its
 * own, with the combined reply what Redis would have given.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ShardBackend } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { nodeId, type NodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { ReplyError, SimpleString, type Reply } from '../../src/protocol/reply.js';
import { KeyPolicyTable, type KeyHandler, type KeyRequest } from '../../src/router/key-policies.js';
import { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';

const backendsToClose: ShardBackend[] = [];
afterEach(async () => {
  await Promise.all(backendsToClose.splice(0).map((b) => b.close()));
});

function router(): Router {
  const nodes = ['n0', 'n1', 'n2'].map(nodeId);
  const table = RoutingTable.create({ partitioner: hashPartitioner(), nodes, shards: 6 });
  const backends = new Map<NodeId, ShardBackend>(nodes.map((n) => [n, new MemoryBackend({ node: n })]));
  backendsToClose.push(...backends.values());
  return new Router(table, backends);
}

const session = new Session(1, 'test', false, 0);

function send(r: Router, ...args: string[]): Reply {
  let reply: Reply | undefined;
  r.dispatch(
    session,
    args.map((a) => Buffer.from(a)),
    undefined,
    (x) => (reply = x),
  );
  if (reply === undefined) throw new Error(`no synchronous reply to ${args.join(' ')}`);
  return reply instanceof SimpleString ? reply.value : reply;
}

const text = (r: Reply): unknown =>
  Buffer.isBuffer(r) ? r.toString() : Array.isArray(r) ? (r as Reply[]).map(text) : r;

/** A policy that answers reads of its key itself and records every command it sees. */
function recording(value: string): KeyHandler & { seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    run(req: KeyRequest, done) {
      seen.push(req.cmd.args.map((a) => a.toString()).join(' '));
      if (req.spec.write) return req.forward(req.cmd, done);
      if (req.spec.name === 'get') return done(Buffer.from(value));
      return req.forward(req.cmd, done);
    },
  };
}

describe('key policy table', () => {
  it('finds exactly the keys with a policy among many, and bumps its version on every change', () => {
    const table = new KeyPolicyTable<string>();
    const handler = recording('x');
    for (let i = 0; i < 1000; i++) table.set(Buffer.from(`hot:${i}`), `p${i}`, handler);
    expect(table.size).toBe(1000);
    expect(table.version).toBe(1000);
    for (let i = 0; i < 1000; i++) expect(table.get(Buffer.from(`hot:${i}`))?.policy).toBe(`p${i}`);
    let found = 0;
    for (let i = 0; i < 100_000; i++) if (table.get(Buffer.from(`key:${i}`)) !== undefined) found++;
    expect(found).toBe(0);
    expect(table.delete(Buffer.from('hot:7'))).toBe(true);
    expect(table.delete(Buffer.from('hot:7'))).toBe(false);
    expect(table.get(Buffer.from('hot:7'))).toBeUndefined();
    expect(table.version).toBe(1001);
    // Binary keys are keys too.
    const bin = Buffer.from([0xff, 0x00, 0x80]);
    table.set(bin, 'bin', handler);
    expect(table.get(Buffer.from([0xff, 0x00, 0x80]))?.policy).toBe('bin');
  });
});

describe('key policy stage', () => {
  it('serves a key with a policy by its handler and every other key by the plain route', () => {
    const r = router();
    send(r, 'set', 'hot', 'stored');
    send(r, 'set', 'cold', 'c');
    const handler = recording('from-policy');
    r.policies.set(Buffer.from('hot'), 'test', handler);
    expect(text(send(r, 'get', 'hot'))).toBe('from-policy');
    expect(text(send(r, 'get', 'cold'))).toBe('c');
    expect(send(r, 'set', 'hot', 'v2')).toBe('OK');
    expect(handler.seen).toEqual(['get hot', 'set hot v2']);
    r.policies.delete(Buffer.from('hot'));
    expect(text(send(r, 'get', 'hot'))).toBe('v2');
  });

  it('splits a multi-key command: each policy key as its single-key command, the rest as one, replies in the client order', () => {
    const r = router();
    for (const k of ['a', 'b', 'c', 'd']) send(r, 'set', k, `v${k}`);
    send(r, 'hset', 'h', 'f', '1');
    const handler = recording('P');
    r.policies.set(Buffer.from('b'), 'test', handler);
    r.policies.set(Buffer.from('h'), 'test', recording('never'));
    expect(text(send(r, 'mget', 'a', 'b', 'zz', 'c'))).toEqual(['va', 'P', null, 'vc']);
    expect(send(r, 'exists', 'a', 'b', 'nope', 'b')).toBe(4 - 1);
    expect(send(r, 'mset', 'a', '1', 'b', '2', 'e', '3')).toBe('OK');
    expect(handler.seen).toContain('set b 2');
    expect(text(send(r, 'mget', 'a', 'e'))).toEqual(['1', '3']);
    // A hash under a policy: MGET says nil for it as Redis does, not GET's WRONGTYPE.
    r.policies.delete(Buffer.from('h'));
    r.policies.set(Buffer.from('h'), 'test', { run: (req, done) => req.forward(req.cmd, done) });
    expect(text(send(r, 'mget', 'h', 'a'))).toEqual([null, '1']);
    expect(send(r, 'del', 'a', 'b', 'h', 'missing')).toBe(3);
    // b's policy answers reads itself; the others are gone.
    expect(text(send(r, 'mget', 'a', 'b', 'h'))).toEqual([null, 'P', null]);
    r.policies.delete(Buffer.from('b'));
    expect(text(send(r, 'mget', 'a', 'b', 'h'))).toEqual([null, null, null]);
  });

  it('a handler that throws fails its request with HS_ERR_INTERNAL, is reported, and the router goes on', () => {
    const r = router();
    const reported: string[] = [];
    r.onPolicyError = (err, key) => reported.push(`${key.toString()}: ${(err as Error).message}`);
    r.policies.set(Buffer.from('bad'), 'test', {
      run() {
        throw new Error('boom');
      },
    });
    const reply = send(r, 'get', 'bad');
    expect(reply).toBeInstanceOf(ReplyError);
    expect((reply as ReplyError).message).toMatch(/^ERR HS_ERR_INTERNAL .*boom/);
    expect(reported).toEqual(['bad: boom']);
    expect(text(send(r, 'mget', 'x', 'bad'))).toBeInstanceOf(ReplyError);
    expect(send(r, 'set', 'x', '1')).toBe('OK');
  });
});

describe('KeyPolicyTable lookups', () => {
  const handler: KeyHandler = { run: (req, done) => req.forward(req.cmd, done) };

  it('finds a key by its bytes after it was found last, and sees a replace or a delete at once', () => {
    const table = new KeyPolicyTable<string>();
    table.set(Buffer.from('hot:a'), 'first', handler);
    table.set(Buffer.from('hot:b'), 'other', handler);
    expect(table.get(Buffer.from('hot:a'))?.policy).toBe('first');
    // Same length, other bytes: not the entry found last.
    expect(table.get(Buffer.from('hot:b'))?.policy).toBe('other');
    expect(table.get(Buffer.from('hot:c'))).toBeUndefined();
    expect(table.get(Buffer.from('hot:b'))?.policy).toBe('other');
    table.set(Buffer.from('hot:b'), 'replaced', handler);
    expect(table.get(Buffer.from('hot:b'))?.policy).toBe('replaced');
    expect(table.delete(Buffer.from('hot:b'))).toBe(true);
    expect(table.get(Buffer.from('hot:b'))).toBeUndefined();
    // A prefix of a key is another key.
    expect(table.get(Buffer.from('hot:'))).toBeUndefined();
    expect(table.get(Buffer.from('hot:a'))?.policy).toBe('first');
  });
});
