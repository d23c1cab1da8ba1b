/**
 * Runs generated command sequences on two RESP servers, or on a server and
 * an embedded node, and reports the first reply that differs.
 */
import { encodeReply } from '../../src/protocol/reply-encoder.js';
import type { Reply } from '../../src/protocol/reply.js';
import { canonical, parseResp, type Node } from './canonical.js';
import type { GenCommand } from './commands.js';

/** Runs a batch of commands somewhere, returning each reply's RESP2 bytes. */
export type Target = (commands: readonly (readonly string[])[]) => Promise<Buffer[]>;

/** A target for something that answers with Reply values (an embedded node's send and sendBlocking). */
export function replyTarget(run: (args: readonly string[]) => Reply | Promise<Reply>): Target {
  return async (commands) => {
    const out: Buffer[] = [];
    for (const c of commands) out.push(encodeReply(await run(c), 2));
    return out;
  };
}

const show = (n: Node): string => JSON.stringify(n);

/**
 * Sends `commands` to both targets (after a FLUSHALL each) and throws, naming
 * the command, its position and both replies, at the first that differs.
 */
export async function compareSequence(
  expected: Target,
  actual: Target,
  commands: readonly GenCommand[],
): Promise<void> {
  const all = [['FLUSHALL'], ...commands.map((c) => c.args)];
  const [want, got] = await Promise.all([expected(all), actual(all)]);
  for (const flushed of [want[0], got[0]]) {
    if (flushed?.toString() !== '+OK\r\n') throw new Error(`FLUSHALL failed: ${flushed?.toString()}`);
  }
  for (let i = 0; i < commands.length; i++) {
    const c = commands[i]!;
    const w = canonical(parseResp(want[i + 1]!), c.order);
    const g = canonical(parseResp(got[i + 1]!), c.order);
    const offByOneSecond =
      c.order === 'clock' &&
      typeof w === 'string' &&
      typeof g === 'string' &&
      /^:\d+$/.test(w) &&
      /^:\d+$/.test(g) &&
      Math.abs(Number(w.slice(1)) - Number(g.slice(1))) === 1;
    if (show(w) !== show(g) && !offByOneSecond) {
      const before = commands
        .slice(Math.max(0, i - 8), i)
        .map((p) => p.args.join(' '))
        .join('\n    ');
      throw new Error(
        `reply ${i} differs for ${JSON.stringify(c.args)}\n  redis:    ${show(w)}\n  ours:     ${show(g)}\n  after:\n    ${before}`,
      );
    }
  }
}
