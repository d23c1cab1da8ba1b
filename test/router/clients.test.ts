import { describe } from 'vitest';
import { requireBinary } from '../../src/testkit/binaries.js';
import { startTestHotshard } from '../../src/testkit/hotshard.js';
import { runClientCases } from './clients.case.js';

runClientCases('memory', () => startTestHotshard({ backend: 'memory' }));

const hasRedis = requireBinary('redis-server', 'redis-backed client tests');
describe.skipIf(!hasRedis)('redis', () => {
  runClientCases('redis', () => startTestHotshard({ backend: 'redis', redisNodes: 4 }));
});
