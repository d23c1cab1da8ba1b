/** Keyspace: how a key becomes a position, and how positions map to shards and nodes. */
export { nodeId, shardId, type NodeId, type ShardId } from './ids.js';
export { HASH_SEED, murmur3 } from './hash.js';
export { hashTag, hashedSpan, type KeySpan } from './hash-tag.js';
export {
  MAX_INITIAL_SHARDS,
  PartitionerKind,
  hashPartitioner,
  partitionerFor,
  rangePartitioner,
  type Partitioner,
  type Position,
} from './partitioner.js';
export {
  RoutingTable,
  ShardStatus,
  type CreateTableOptions,
  type RoutingTableJSON,
  type ShardInfo,
  type ShardJSON,
} from './routing-table.js';
