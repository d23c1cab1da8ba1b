/** Helpers for the executor and mitigation API tests: a router over embedded nodes, and a remedy whose effect shows in replies. */
import type { ShardBackend } from '../../src/backend/backend.js';
import type { Remedy, RemedyName } from '../../src/mitigate/policy.js';
import type { Reply } from '../../src/protocol/reply.js';
import type { Router } from '../../src/router/router.js';
import { memoryNodes, routerOver } from './cluster.js';

export { send } from './cluster.js';

/** A router over two embedded nodes, closed after the test (and pushed to `toClose` when a test closes its own). */
export function testRouter(toClose?: ShardBackend[]): Router {
  const backends = memoryNodes(['n0', 'n1']);
  toClose?.push(...backends);
  return routerOver(backends, 4);
}

/**
 * A remedy that answers every GET of its key itself, with `<name>:<its settings as JSON>`,
 * and passes everything else on: a policy's presence and settings show in GET's reply.
 * `closed` lists the keys whose stages were closed.
 */
export function answeringRemedy(name: RemedyName, closed: string[] = []): Remedy {
  return {
    name,
    build(policy, key, next) {
      return {
        run(req, done) {
          if (req.spec.name === 'get') return done(Buffer.from(`${name}:${JSON.stringify(policy[name])}`));
          next.run(req, done);
        },
        status: () => ({ serving: key.toString() }),
        close: () => {
          closed.push(key.toString());
          return Promise.resolve();
        },
      };
    },
  };
}

/** A reply as text (bulk strings and simple strings), for assertions. */
export function text(reply: Reply): string {
  return Buffer.isBuffer(reply) ? reply.toString() : JSON.stringify(reply);
}
