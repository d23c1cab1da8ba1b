/** Test and benchmark helpers: free ports, binary detection, real redis-server processes. */
export { freePort } from './free-port.js';
export { hasBinary, requireBinary } from './binaries.js';
export { startRedis, startRedisCluster, type RedisOptions, type RedisProcess } from './redis-server.js';
