/**
 * Consumer groups on an embedded node against a real redis-server 7.0:
 * scripted sequences of XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM,
 * XAUTOCLAIM and XINFO (their errors included) must get the same replies.
 * Times (idle, delivery and seen times) differ between two servers, so they
 * are masked in the comparison and checked exactly on a manual clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { isBlockingCommand } from '../../src/backend/memory-commands.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { makeCommand } from '../../src/protocol/command.js';
import { encodeReply } from '../../src/protocol/reply-encoder.js';
import type { Reply } from '../../src/protocol/reply.js';
import { startRedis, type RedisProcess } from '../../src/testkit/redis-server.js';
import { parseResp, type Node } from '../differential/canonical.js';
import { compareSequence, replyTarget, type Target } from '../differential/harness.js';
import { RespPipe } from '../differential/resp-pipe.js';

let redis: RedisProcess;
let pipe: RespPipe;
let node: MemoryBackend;
let embedded: Target;

/** One command per line, arguments split on spaces, `\xNN` for any byte. */
const script = (text: string): string[][] =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) =>
      l
        .split(/\s+/)
        .map((w) => w.replace(/\\x([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)))),
    );

const ordered = (cmds: string[][]) => cmds.map((args) => ({ args, order: 'ordered' as const }));

/** Runs one command on `b`, parked or not, as the embedded differential does. */
function run(b: MemoryBackend, args: readonly string[]): Reply | Promise<Reply> {
  const cmd = makeCommand(...args.map((a) => Buffer.from(a, 'latin1')));
  if (isBlockingCommand(cmd.name)) return new Promise<Reply>((resolve) => b.sendBlocking(cmd, resolve));
  let out: Reply | undefined;
  b.send(cmd, (r) => (out = r));
  if (out === undefined) throw new Error(`no synchronous reply to ${args.join(' ')}`);
  return out;
}

const parsed = (r: Reply): Node => parseResp(encodeReply(r, 2));

beforeAll(async () => {
  redis = await startRedis();
  pipe = await RespPipe.open(redis.port);
  node = new MemoryBackend({ node: nodeId('groups-diff') });
  embedded = replyTarget((args) => run(node, args));
});

afterAll(async () => {
  pipe.close();
  await node.close();
  await redis.stop();
});

const TIME = ':T';

/**
 * Replaces the time fields of a reply by `:T`: XPENDING's idle per entry,
 * XINFO CONSUMERS' idle, XINFO STREAM FULL's delivery and seen times.
 */
function maskTimes(args: readonly string[], n: Node): Node {
  const name = `${args[0]} ${args[1]}`.toLowerCase();
  if (typeof n === 'string') return n;
  const pairs = (list: Node[], keys: readonly string[]): Node[] =>
    list.map((v, i) => (i % 2 === 1 && keys.includes(list[i - 1] as string) ? TIME : v));
  if (name.startsWith('xpending') && args.length > 3) {
    return n.map((row) => (Array.isArray(row) ? row.map((v, i) => (i === 2 ? TIME : v)) : row));
  }
  if (name === 'xinfo consumers') return n.map((c) => (Array.isArray(c) ? pairs(c, ['$idle']) : c));
  if (name === 'xinfo stream' && args.length > 3) {
    const at = n.indexOf('$groups');
    if (at === -1) return n;
    const groups = (n[at + 1] as Node[]).map((g) => {
      const gl = g as Node[];
      return gl.map((v, i) => {
        if (gl[i - 1] === '$pending')
          return (v as Node[]).map((p) => (p as Node[]).map((x, j) => (j === 2 ? TIME : x)));
        if (gl[i - 1] !== '$consumers') return v;
        return (v as Node[]).map((c) =>
          pairs(c as Node[], ['$seen-time']).map((x, j, cl) =>
            cl[j - 1] === '$pending'
              ? (x as Node[]).map((p) => (p as Node[]).map((y, k) => (k === 1 ? TIME : y)))
              : x,
          ),
        );
      });
    });
    return [...n.slice(0, at + 1), groups, ...n.slice(at + 2)];
  }
  return n;
}

/** Compares `cmds` on redis (after FLUSHALL) and the shared node, times masked. */
async function compareMasked(cmds: string[][]): Promise<void> {
  const want = await pipe.batch([['FLUSHALL'], ...cmds]);
  expect(parsed(await run(node, ['FLUSHALL']))).toBe('+OK');
  for (let i = 0; i < cmds.length; i++) {
    const w = maskTimes(cmds[i]!, parseResp(want[i + 1]!));
    const g = maskTimes(cmds[i]!, parsed(await run(node, cmds[i]!)));
    expect({ cmd: cmds[i]!.join(' '), reply: g }).toEqual({ cmd: cmds[i]!.join(' '), reply: w });
  }
}

const XGROUP_SCRIPT = `
XGROUP
XGROUP HELP
XGROUP help extra
XGROUP foo
XGROUP foo a b c
XGROUP CREATE k
XGROUP CREATE k g
XGROUP CREATE k g $
XGROUP CREATE k g $ MKSTREAM MKSTREAM MKSTREAM MKSTREAM
XGROUP CREATE k g $ bad
XGROUP CREATE k g $ ENTRIESREAD
XGROUP CREATE k g $ ENTRIESREAD x
XGROUP CREATE k g $ ENTRIESREAD -2
XGROUP CREATE k g bad MKSTREAM
XGROUP CREATE k g $ MKSTREAM
XGROUP CREATE k g $ MKSTREAM
XGROUP CREATE k g2 0 ENTRIESREAD 5
XGROUP CREATE k g3 +
XGROUP CREATE k g3 1-2-3
XGROUP CREATE k a0 0 ENTRIESREAD -1
XGROUP SETID k g 0 MKSTREAM
XGROUP SETID k g 0 ENTRIESREAD
XGROUP SETID k nog 0
XGROUP SETID nokey g 0
XGROUP SETID k g +
XGROUP SETID k g -
XGROUP SETID k g bad
XGROUP SETID k g 0 ENTRIESREAD 3 ENTRIESREAD 4
XGROUP SETID k g 0 ENTRIESREAD 3
XINFO GROUPS k
XGROUP DESTROY k nog
XGROUP DESTROY nokey g
XGROUP DESTROY k g2
XGROUP CREATECONSUMER k g c1
XGROUP CREATECONSUMER k g c1
XGROUP CREATECONSUMER k nog c1
XGROUP DELCONSUMER k g c1
XGROUP DELCONSUMER k g c1
XGROUP DELCONSUMER k nog c1
XGROUP CREATECONSUMER k g b
XGROUP CREATECONSUMER k g a
XGROUP CREATECONSUMER k g ab
XGROUP CREATECONSUMER k g \\xff
XGROUP CREATECONSUMER k g A
XGROUP CREATE k \\xe9 0
XGROUP CREATE k B 0
XINFO GROUPS k
XPENDING k g
SET str x
XGROUP CREATE str g $
XGROUP CREATE str g $ MKSTREAM
XGROUP DESTROY str g
XGROUP CREATE str g $ bad
XINFO
XINFO HELP
XINFO HELP x
XINFO foo
XINFO STREAM
XINFO STREAM nokey
XINFO STREAM str
XINFO STREAM k FULL COUNT
XINFO STREAM k FULL x 1
XINFO STREAM k x
XINFO STREAM k FULL COUNT x
XINFO STREAM nokey FULL COUNT x
XINFO STREAM k
XINFO GROUPS nokey
XINFO GROUPS str
XINFO GROUPS k x
XINFO CONSUMERS k nog
XINFO CONSUMERS nokey g
`;

const READ_SCRIPT = `
XGROUP CREATE k g $ MKSTREAM
XADD k 1-1 a 1
XADD k 2-1 b 2
XADD k 3-1 c 3
XINFO GROUPS k
XREADGROUP GROUP g c1 STREAMS k >
XREADGROUP GROUP g c1 STREAMS k >
XREADGROUP GROUP g c1 STREAMS k 0
XREADGROUP GROUP g c1 COUNT 1 STREAMS k 0
XREADGROUP GROUP g c1 STREAMS k 2-1
XREADGROUP GROUP g c1 STREAMS k $
XREADGROUP GROUP nog c1 STREAMS k >
XREADGROUP GROUP g c1 STREAMS nokey >
XREADGROUP GROUP g c1 STREAMS str >
SET str x
XREADGROUP GROUP g c1 STREAMS str >
XREADGROUP GROUP g c1 STREAMS k bad
XREADGROUP GROUP g c1 STREAMS k k > >
XREADGROUP GROUP g c1 STREAMS k
XREADGROUP c1 STREAMS k >
XREADGROUP GROUP g STREAMS k >
XREADGROUP STREAMS k >
XREADGROUP GROUP g c1 STREAMS k nokey 0 1-1
XREADGROUP GROUP g c1 STREAMS k nokey bad 1-1
XREADGROUP GROUP g c1 STREAMS nokey k 0 bad
XREADGROUP GROUP g c1 COUNT -3 STREAMS k 0
XREADGROUP GROUP g c1 BLOCK -1 STREAMS k 0
XREADGROUP GROUP g c1 BLOCK x STREAMS k 0
XREADGROUP GROUP g c1 BLOCK 10 STREAMS k 0
XREAD GROUP g c1 STREAMS k >
XREAD NOACK STREAMS k 0
XREADGROUP GROUP g c1 NOACK STREAMS k >
XGROUP CREATE k g4 0
XREADGROUP GROUP g4 c9 NOACK COUNT 1 STREAMS k >
XREADGROUP GROUP g4 c9 STREAMS k 0
XREADGROUP GROUP g4 c9 STREAMS k 18446744073709551615-18446744073709551615
XPENDING k g4
XINFO GROUPS k
XPENDING k g
XPENDING k g - + 10 nobody
XPENDING k g - + -1
XPENDING k g - + x
XPENDING k g IDLE x - + 10
XPENDING k g IDLE 0 - +
XPENDING k g IDLE 1000000 - + 10
XPENDING k g - +
XPENDING k nog
XPENDING nokey g - + 1
XPENDING str g
XPENDING k g bad + 10
XPENDING k g (18446744073709551615-18446744073709551615 + 10
XPENDING k g - (0-0 10
XPENDING k g - + 10 c1 x y z
XADD k 4-1 d 4
XADD k 5-1 e 5
XREADGROUP GROUP g c2 COUNT 1 STREAMS k >
XREADGROUP GROUP g c2 NOACK STREAMS k >
XPENDING k g
XGROUP SETID k g 0
XREADGROUP GROUP g c3 COUNT 2 STREAMS k >
XPENDING k g
XREADGROUP GROUP g c2 STREAMS k k 0 >
XACK k g 1-1 2-1 9-9
XACK k g 1-1
XACK k g bad
XACK k nog bad
XACK nokey g bad
XACK str g 1-1
XACK k g 3-1 bad
XPENDING k g
XDEL k 4-1
XREADGROUP GROUP g c2 STREAMS k 0
XGROUP SETID k g 0
XREADGROUP GROUP g c4 STREAMS k >
XINFO GROUPS k
XGROUP DELCONSUMER k g c4
XPENDING k g
XINFO STREAM k
# read counters and lag across deletions, trims and SETID
XADD k3 1-1 x 1
XADD k3 2-1 x 1
XADD k3 3-1 x 1
XGROUP CREATE k3 g 1-1
XINFO GROUPS k3
XREADGROUP GROUP g c STREAMS k3 >
XINFO GROUPS k3
XGROUP CREATE k3 g2 2-1
XDEL k3 3-1
XINFO GROUPS k3
XGROUP CREATE k3 g3 $ ENTRIESREAD 2
XGROUP CREATE k3 g4 0 ENTRIESREAD 0
XREADGROUP GROUP g4 c COUNT 1 STREAMS k3 >
XINFO GROUPS k3
XADD k3 4-1 x 1
XREADGROUP GROUP g2 c STREAMS k3 >
XINFO GROUPS k3
XTRIM k3 MAXLEN 0
XINFO GROUPS k3
XREADGROUP GROUP g c STREAMS k3 0
XGROUP SETID k3 g $ ENTRIESREAD 99
XINFO GROUPS k3
COPY k3 k4
XINFO GROUPS k4
XPENDING k4 g
XGROUP CREATE k5 g 0 MKSTREAM
XINFO GROUPS k5
XADD k5 5-1 x 1
XGROUP SETID k5 g 0
XREADGROUP GROUP g c STREAMS k5 >
XINFO GROUPS k5
`;

const CLAIM_SCRIPT = `
XADD k 1-1 a 1
XADD k 2-1 b 2
XADD k 3-1 c 3
XADD k 4-1 d 4
XADD k 5-1 e 5
XGROUP CREATE k g 0
SET str x
XCLAIM nokey g c abc 1-1
XCLAIM k nog c abc 1-1
XCLAIM str g c 0 1-1
XCLAIM k g c abc 1-1
XCLAIM k g c 0 1-1
XINFO GROUPS k
XCLAIM k g c 0 1-1 FORCE
XCLAIM k g c 0 1-1 2-1 FORCE JUSTID
XPENDING k g
XCLAIM k g c 0 FORCE
XCLAIM k g c 0 1-1 BOGUS
XCLAIM k g c 0 1-1 IDLE
XCLAIM k g c 0 1-1 IDLE x
XCLAIM k g c 0 1-1 TIME x
XCLAIM k g c 0 1-1 RETRYCOUNT x
XCLAIM k g c 0 1-1 LASTID x
XCLAIM k g c 0 1-1 LASTID 9-0 RETRYCOUNT 7
XINFO GROUPS k
XCLAIM k g d 0 1-1 2-1 3-1 JUSTID RETRYCOUNT -5
XCLAIM k g d 100000 1-1
XCLAIM k g d -5 1-1
XCLAIM k g e 0 1-1 IDLE 100000000 RETRYCOUNT 3
XCLAIM k g e 0 2-1 TIME 0
XCLAIM k g e 0 2-1 TIME 99999999999999
XDEL k 2-1
XCLAIM k g e 0 2-1 1-1 FORCE
XPENDING k g
XGROUP SETID k g 0
XREADGROUP GROUP g x COUNT 2 STREAMS k >
XDEL k 3-1
XAUTOCLAIM k g y 0 0
XAUTOCLAIM k g y 0 0 JUSTID
XAUTOCLAIM k g y 0 0 COUNT 1
XAUTOCLAIM k g y 0 0 COUNT 0
XAUTOCLAIM k g y 0 0 COUNT x
XAUTOCLAIM k g y 0 0 COUNT
XAUTOCLAIM k g y 0 0 COUNT 576460752303423488
XAUTOCLAIM k g y 0 0 bogus
XAUTOCLAIM k g y x 0
XAUTOCLAIM k g y 0 x
XAUTOCLAIM k g y 0 (18446744073709551615-18446744073709551615
XAUTOCLAIM nokey g y 0 0
XAUTOCLAIM k nog y 0 0
XAUTOCLAIM str g y 0 0
XAUTOCLAIM k g y 0 (1-1 COUNT 1
XAUTOCLAIM k g z 1000000 0
XAUTOCLAIM k g z 0 0 COUNT 576460752303423487 JUSTID
XAUTOCLAIM k g z 0 0 COUNT 8796093022208 JUSTID
XAUTOCLAIM k g z 0 0 COUNT 100000000 JUSTID
XGROUP SETID k g 0
XREADGROUP GROUP g w STREAMS k >
XADD k 6-1 f 6
XADD k 7-1 g 7
XADD k 8-1 h 8
XREADGROUP GROUP g w STREAMS k >
XDEL k 6-1 7-1
XAUTOCLAIM k g v 0 0 COUNT 1
XAUTOCLAIM k g v 0 0 COUNT 2
XAUTOCLAIM k g v 0 0 COUNT 10
XAUTOCLAIM k g v 0 0 COUNT 10
XINFO GROUPS k
XPENDING k g
XCLAIM k g x 0 8-1
XPENDING k g
`;

describe('consumer groups - an embedded node answers as redis-server 7.0 does', () => {
  it('XGROUP and XINFO: subcommands, options and their errors', async () => {
    await compareSequence((c) => pipe.batch(c), embedded, ordered(script(XGROUP_SCRIPT)));
  });

  it('XREADGROUP, XACK and XPENDING: new entries, history, read counters and lag', async () => {
    await compareSequence((c) => pipe.batch(c), embedded, ordered(script(READ_SCRIPT)));
  });

  it('XCLAIM and XAUTOCLAIM: options, forced claims, deleted entries dropped from the PEL', async () => {
    await compareSequence((c) => pipe.batch(c), embedded, ordered(script(CLAIM_SCRIPT)));
  });

  it('replies with times match once the times are masked (XPENDING ranges, XINFO CONSUMERS, XINFO STREAM FULL)', async () => {
    await compareMasked(
      script(`
XGROUP CREATE k g $ MKSTREAM
XGROUP CREATE k \\xe9 $
XGROUP CREATECONSUMER k g idle
XINFO STREAM k FULL
XINFO CONSUMERS k g
XADD k 1-1 a 1
XADD k 2-1 b 2
XADD k 3-1 c 3
XREADGROUP GROUP g c1 COUNT 2 STREAMS k >
XREADGROUP GROUP g c2 STREAMS k >
XREADGROUP GROUP \\xe9 c1 STREAMS k >
XPENDING k g - + 10
XPENDING k g - + 10 c1
XPENDING k g (1-1 + 10
XPENDING k g - (3-1 1
XPENDING k g IDLE 0 - + 10
XPENDING k g IDLE 0 - + 10 c2
XINFO CONSUMERS k g
XINFO STREAM k FULL
XINFO STREAM k FULL COUNT 1
XINFO STREAM k FULL COUNT 0
XCLAIM k g c3 0 1-1 2-1 3-1
XCLAIM k g c3 0 1-1 JUSTID
XINFO CONSUMERS k g
XAUTOCLAIM k g c4 0 - COUNT 2
XPENDING k g - + 10
XINFO STREAM k FULL
`),
    );
  });
});

describe('consumer groups - times on a manual clock', () => {
  it('delivery times, idle times and delivery counts follow the command clock', () => {
    const clock = new ManualClock(1_000_000);
    const b = new MemoryBackend({ node: nodeId('groups-clock'), clock });
    const at = (args: string): Node => {
      let out: Reply | undefined;
      b.send(makeCommand(...args.split(' ')), (r) => (out = r));
      return parsed(out!);
    };
    at('XADD k 1-1 a 1');
    at('XADD k 2-1 b 2');
    at('XGROUP CREATE k g 0');
    at('XGROUP CREATECONSUMER k g early');
    clock.advance(100);
    expect(at('XREADGROUP GROUP g c STREAMS k >')).toEqual([
      [
        '$k',
        [
          ['$1-1', ['$a', '$1']],
          ['$2-1', ['$b', '$2']],
        ],
      ],
    ]);
    clock.advance(50);
    expect(at('XPENDING k g - + 10')).toEqual([
      ['$1-1', '$c', ':50', ':1'],
      ['$2-1', '$c', ':50', ':1'],
    ]);
    expect(at('XINFO CONSUMERS k g')).toEqual([
      ['$name', '$c', '$pending', ':2', '$idle', ':50'],
      ['$name', '$early', '$pending', ':0', '$idle', ':150'],
    ]);
    expect(at('XPENDING k g IDLE 51 - + 10')).toEqual([]);
    expect(at('XPENDING k g IDLE 50 - + 10 c')).toHaveLength(2);
    // reading history delivers again: count and time move on
    clock.advance(10);
    at('XREADGROUP GROUP g c COUNT 1 STREAMS k 0');
    expect(at('XPENDING k g - + 10')).toEqual([
      ['$1-1', '$c', ':0', ':2'],
      ['$2-1', '$c', ':60', ':1'],
    ]);
    // min-idle: 1-1 is too fresh, 2-1 is claimed
    expect(at('XCLAIM k g d 30 1-1 2-1 JUSTID')).toEqual(['$2-1']);
    expect(at('XCLAIM k g d 0 1-1 IDLE 500')).toEqual([['$1-1', ['$a', '$1']]]);
    expect(at('XCLAIM k g d 0 2-1 TIME 999990 RETRYCOUNT 9')).toEqual([['$2-1', ['$b', '$2']]]);
    expect(at('XPENDING k g - + 10')).toEqual([
      ['$1-1', '$d', ':500', ':3'],
      ['$2-1', '$d', ':170', ':9'],
    ]);
    // a time in the future is taken as now
    at('XCLAIM k g d 0 2-1 TIME 99999999999 JUSTID');
    expect(at('XPENDING k g - + 10 d')).toEqual([
      ['$1-1', '$d', ':500', ':3'],
      ['$2-1', '$d', ':0', ':9'],
    ]);
    clock.advance(5);
    expect(at('XAUTOCLAIM k g e 100 0')).toEqual(['$0-0', [['$1-1', ['$a', '$1']]], []]);
    const full = at('XINFO STREAM k FULL') as Node[];
    const groups = full[full.indexOf('$groups') + 1] as Node[][];
    const now = String(clock.now());
    expect(groups[0]).toEqual([
      '$name',
      '$g',
      '$last-delivered-id',
      '$2-1',
      '$entries-read',
      ':2',
      '$lag',
      ':0',
      '$pel-count',
      ':2',
      '$pending',
      [
        ['$1-1', '$e', `:${now}`, ':4'],
        ['$2-1', '$d', `:${Number(now) - 5}`, ':9'],
      ],
      '$consumers',
      [
        ['$name', '$c', '$seen-time', ':1000160', '$pel-count', ':0', '$pending', []],
        [
          '$name',
          '$d',
          '$seen-time',
          ':1000160',
          '$pel-count',
          ':1',
          '$pending',
          [['$2-1', ':1000160', ':9']],
        ],
        ['$name', '$e', '$seen-time', `:${now}`, '$pel-count', ':1', '$pending', [['$1-1', `:${now}`, ':4']]],
        ['$name', '$early', '$seen-time', ':1000000', '$pel-count', ':0', '$pending', []],
      ],
    ]);
    // a copy keeps the groups, their PELs and times
    at('COPY k k2');
    expect(at('XINFO STREAM k2 FULL')).toEqual(full);
    void b.close();
  });
});

/** Waits until redis has `n` clients blocked. */
async function blockedOnRedis(control: RespPipe, n: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const [info] = await control.batch([['INFO', 'clients']]);
    if (new RegExp(`blocked_clients:${n}\\r`).test(info!.toString())) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`redis never had ${n} blocked clients`);
}

/**
 * Runs `setup` on both, parks each of `blocked` (one client each), runs
 * `wake` step by step (after each, the number of clients still blocked must
 * agree), and compares every reply, the parked ones' included.
 */
async function compareBlocking(setup: string[][], blocked: string[][], wake: string[][]): Promise<void> {
  const b = new MemoryBackend({ node: nodeId('groups-block') });
  const clients = await Promise.all(blocked.map(() => RespPipe.open(redis.port)));
  try {
    const want = await pipe.batch([['FLUSHALL'], ...setup]);
    const got = [parsed(await run(b, ['FLUSHALL']))];
    for (const c of setup) got.push(parsed(await run(b, c)));
    expect(got).toEqual(want.map((w) => parseResp(w)));
    const redisParked: Promise<Buffer[]>[] = [];
    const ourParked: Promise<Reply>[] = [];
    for (let i = 0; i < blocked.length; i++) {
      redisParked.push(clients[i]!.batch([blocked[i]!]));
      await blockedOnRedis(pipe, i + 1);
      ourParked.push(Promise.resolve(run(b, blocked[i]!)));
    }
    expect(b.blockedClients).toBe(blocked.length);
    for (const c of wake) {
      const [w] = await pipe.batch([c]);
      expect(parsed(await run(b, c))).toEqual(parseResp(w!));
      const [info] = await pipe.batch([['INFO', 'clients']]);
      const stillBlocked = Number(/blocked_clients:(\d+)/.exec(info!.toString())![1]);
      expect({ after: c.join(' '), blocked: b.blockedClients }).toEqual({
        after: c.join(' '),
        blocked: stillBlocked,
      });
    }
    const redisReplies = (await Promise.all(redisParked)).map(([r]) => parseResp(r!));
    const ourReplies = (await Promise.all(ourParked)).map(parsed);
    expect(ourReplies).toEqual(redisReplies);
  } finally {
    for (const c of clients) c.close();
    await b.close();
  }
}

describe('consumer groups - blocked XREADGROUP', () => {
  it('is served by a later XADD, the entry becoming pending for it', async () => {
    await compareBlocking(
      script('XGROUP CREATE k g $ MKSTREAM'),
      script('XREADGROUP GROUP g c BLOCK 0 STREAMS k >'),
      script(`
XADD k 1-1 a 1
XPENDING k g
XINFO GROUPS k
`),
    );
  });

  it('gets NOGROUP when its group is destroyed while it waits, others on the key still waiting', async () => {
    await compareBlocking(
      script(`
XGROUP CREATE k g1 $ MKSTREAM
XGROUP CREATE k g2 $
`),
      script(`
XREADGROUP GROUP g1 c BLOCK 0 STREAMS k >
XREADGROUP GROUP g2 c BLOCK 0 STREAMS k >
XREAD BLOCK 0 STREAMS k $
`),
      script(`
XGROUP DESTROY k g2
XADD k 1-1 a 1
XINFO GROUPS k
`),
    );
  });

  it('stays blocked when XGROUP SETID moves its group back, then gets at most 1000 entries', async () => {
    const adds = Array.from({ length: 1005 }, (_, i) => ['XADD', 'k', `${i + 1}-1`, 'f', String(i)]);
    await compareBlocking(
      [...adds, ['XGROUP', 'CREATE', 'k', 'g', '$'], ['XGROUP', 'CREATE', 'k', 'g2', '$']],
      script(`
XREADGROUP GROUP g c BLOCK 0 STREAMS k >
XREADGROUP GROUP g2 c BLOCK 0 COUNT 3 NOACK STREAMS k >
`),
      script(`
XGROUP SETID k g 0
XGROUP SETID k g2 1000
XGROUP CREATECONSUMER k g c
XADD k 2000-1 f last
XPENDING k g
XPENDING k g2
XINFO GROUPS k
`),
    );
  });

  it('is unblocked when its stream is deleted, overwritten or flushed; XREAD keeps waiting', async () => {
    for (const gone of ['DEL k', 'SET k x', 'RENAME k k2', 'FLUSHALL']) {
      await compareBlocking(
        script('XGROUP CREATE k g $ MKSTREAM'),
        script(`
XREAD BLOCK 0 STREAMS k $
XREADGROUP GROUP g c BLOCK 0 STREAMS k >
XREADGROUP GROUP g c2 BLOCK 0 STREAMS k >
`),
        script(`
${gone}
DEL k
XADD k 1-1 a 1
`),
      );
    }
  });

  it('gets NOGROUP when its stream is replaced by one without the group', async () => {
    await compareBlocking(
      script(`
XGROUP CREATE k g $ MKSTREAM
XADD other 1-1 a 1
`),
      script('XREADGROUP GROUP g c BLOCK 0 STREAMS k >'),
      script('RENAME other k'),
    );
  });
});
