/**
 * Big replies through the redis backend (issue 12, defect 4 follow-up): the
 * proxy forwards a big value without copying it, and one client slow to read
 * a big value holds up nobody else on the same node.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { requireBinary } from '../../src/testkit/index.js';
import { rawConnect } from './raw-client.js';

const hasRedis = requireBinary('redis-server', 'big reply tests');
const MB = 1024 * 1024;

let t: TestHotshard | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await t?.stop();
  t = undefined;
});

/** SETs `key` straight on the node, so the value's way in is not what the test measures. */
async function setOnNode(port: number, key: string, value: Buffer): Promise<void> {
  const c = await rawConnect(port);
  c.write(
    Buffer.concat([
      Buffer.from(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${value.length}\r\n`),
      value,
      Buffer.from('\r\n'),
    ]),
  );
  await c.until((all) => all.toString('latin1') === '+OK\r\n', 20_000);
  c.close();
}

/**
 * Sends `request` on a fresh connection; resolves the reply's length and a hash of
 * it, computed as bytes arrive so the test itself copies nothing.
 */
function hashedRequest(
  port: number,
  request: string,
  expected: number,
): Promise<{ bytes: number; sha: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const hash = createHash('sha1');
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
      if (bytes >= expected) {
        socket.destroy();
        resolve({ bytes, sha: hash.digest('hex') });
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`closed after ${bytes} of ${expected} bytes`)));
    socket.write(request);
  });
}

const GET = (key: string): string => `*2\r\n$3\r\nGET\r\n$${key.length}\r\n${key}\r\n`;

function bulk(value: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`$${value.length}\r\n`), value, Buffer.from('\r\n')]);
}

describe.skipIf(!hasRedis)('big replies through the redis backend', () => {
  it('a 10 MB value reaches the client without the proxy copying it', async () => {
    t = await startTestHotshard({ backend: 'redis', redisNodes: 1 });
    const value = Buffer.alloc(10 * MB, 0x61);
    value.write('start', 0);
    value.write('end', value.length - 3);
    await setOnNode(t.redis[0]!.port, 'big', value);
    await setOnNode(t.redis[0]!.port, 'small', Buffer.from('v'));
    // A small reply right behind the big one: both leave in the same write.
    const reply = Buffer.concat([bulk(value), Buffer.from('$1\r\nv\r\n')]);

    // Every byte Buffer.copy or Buffer.concat moves in this process while the
    // value passes: the node's reply arrives in ~64 KB reads and leaves in one
    // write, which cost two full copies (assembling it from the reads, then
    // joining it to the small reply for the client's write).
    let copied = 0;
    type Copy = (this: Buffer, ...args: Parameters<Buffer['copy']>) => number;
    const proto = Buffer.prototype as unknown as { copy: Copy };
    const copy = proto.copy;
    vi.spyOn(proto, 'copy').mockImplementation(function (this: Buffer, ...args) {
      const n = copy.apply(this, args);
      copied += n;
      return n;
    });
    const concat = Buffer.concat.bind(Buffer);
    vi.spyOn(Buffer, 'concat').mockImplementation((list, total) => {
      const out = concat(list, total);
      copied += out.length;
      return out;
    });
    const got = await hashedRequest(t.port, GET('big') + GET('small'), reply.length);
    vi.restoreAllMocks();

    expect(got.bytes).toBe(reply.length);
    expect(got.sha).toBe(createHash('sha1').update(reply).digest('hex'));
    expect(copied).toBeLessThan(MB);
  }, 30_000);

  it('a client slow to read a 50 MB value does not hold up a bystander on the same node', async () => {
    t = await startTestHotshard({ backend: 'redis', redisNodes: 1 });
    const value = Buffer.alloc(50 * MB, 0x62);
    await setOnNode(t.redis[0]!.port, 'big', value);
    await setOnNode(t.redis[0]!.port, 'small', Buffer.from('v'));

    // The slow reader asks for the value, then reads nothing until the bystander is done.
    const slow = net.connect(t.port, '127.0.0.1');
    let slowGot = 0;
    slow.on('data', (c: Buffer) => void (slowGot += c.length));
    slow.write(GET('big'));
    // Its first bytes show the reply is under way; from there on it reads nothing.
    await vi.waitFor(() => expect(slowGot).toBeGreaterThan(0), { timeout: 20_000, interval: 5 });
    slow.pause();

    const bystander = await rawConnect(t.port);
    for (let i = 0; i < 50; i++) {
      bystander.write(GET('small'));
      await bystander.until((all) => all.length === (i + 1) * '$1\r\nv\r\n'.length, 10_000);
    }
    expect(slowGot).toBeLessThan(bulk(value).length); // the slow reader really was behind
    bystander.close();

    const expected = bulk(value).length;
    slow.resume();
    await vi.waitFor(() => expect(slowGot).toBe(expected), { timeout: 30_000, interval: 20 });
    slow.destroy();
  }, 60_000);
});
