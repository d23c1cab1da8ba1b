/** Branded ids: a ShardId is not a NodeId, and the compiler says so. */
export type ShardId = string & { readonly __brand: 'ShardId' };
/** A storage node (one redis-server, or one embedded store). */
export type NodeId = string & { readonly __brand: 'NodeId' };

/** Marks a string as a shard id. */
export const shardId = (s: string): ShardId => s as ShardId;
/** Marks a string as a node id. */
export const nodeId = (s: string): NodeId => s as NodeId;
