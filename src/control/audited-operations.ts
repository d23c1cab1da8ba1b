/**
 * Every change a `ShardOperations` makes, in the audit log: a wrapper, so
 * whichever implementation is plugged in (this build's local one, the move
 * engine's) is audited the same way, by the planner as by an operator. A
 * refused operation changed nothing and is not recorded; a long one is
 * recorded when accepted, with the id of the action that carries it on.
 */
import type { NodeId, ShardId } from '../keyspace/ids.js';
import type { AuditLog } from './audit.js';
import type { CopyLimits, OperationContext, ShardOperations } from './operations.js';

/** `inner`, with each change it makes appended to `audit`. */
export function auditedOperations(inner: ShardOperations, audit: AuditLog): ShardOperations {
  const record = (
    ctx: OperationContext,
    verb: string,
    target: string,
    details: Record<string, unknown>,
  ): void => {
    audit.append({ who: ctx.who, verb, target, reason: ctx.reason, details });
  };
  return {
    async split(id: ShardId, at: string | undefined, ctx: OperationContext) {
      const done = await inner.split(id, at, ctx);
      const [, right] = done.shards;
      record(ctx, 'shard.split', `shard:${id}`, {
        at: at ?? null,
        newShard: right.id,
        version: done.version,
      });
      return done;
    },
    async move(id: ShardId, node: NodeId, ctx: OperationContext) {
      const accepted = await inner.move(id, node, ctx);
      record(ctx, 'shard.move', `shard:${id}`, { node, action: accepted.action.id });
      return accepted;
    },
    async merge(id: ShardId, ctx: OperationContext) {
      const result = await inner.merge(id, ctx);
      record(
        ctx,
        'shard.merge',
        `shard:${id}`,
        'action' in result ? { action: result.action.id } : { version: result.version },
      );
      return result;
    },
    async throttle(id: ShardId, opsPerSec: number | null, ctx: OperationContext) {
      const done = await inner.throttle(id, opsPerSec, ctx);
      record(ctx, 'shard.throttle', `shard:${id}`, { limit: done.limit });
      return done;
    },
    async addNode(address: string, ctx: OperationContext) {
      const added = await inner.addNode(address, ctx);
      record(ctx, 'node.add', `node:${added.node}`, { address, version: added.version });
      return added;
    },
    async drainNode(id: NodeId, ctx: OperationContext) {
      const accepted = await inner.drainNode(id, ctx);
      record(ctx, 'node.drain', `node:${id}`, { action: accepted.action.id });
      return accepted;
    },
    async cancel(actionId: string, ctx: OperationContext) {
      const changed = await inner.cancel(actionId, ctx);
      record(ctx, 'action.cancel', `action:${actionId}`, { state: changed.action.state });
      return changed;
    },
    async setLimits(actionId: string, limits: CopyLimits, ctx: OperationContext) {
      const changed = await inner.setLimits(actionId, limits, ctx);
      record(ctx, 'action.limits', `action:${actionId}`, { ...limits });
      return changed;
    },
    action: (id) => inner.action(id),
    actions: () => inner.actions(),
  };
}
