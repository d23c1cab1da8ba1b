import { describe } from 'vitest';
import { requireBinary } from '../../src/testkit/binaries.js';
import { startTestHotshard } from '../../src/testkit/hotshard.js';
import { ADMIN_PASSWORD, ADMIN_TOKEN, runPoolCases, runTransactionCases } from './transactions.case.js';

runTransactionCases('memory', () =>
  startTestHotshard({ backend: 'memory', adminPassword: ADMIN_PASSWORD, adminToken: ADMIN_TOKEN }),
);

const hasRedis = requireBinary('redis-server', 'redis-backed transaction tests');
describe.skipIf(!hasRedis)('redis', () => {
  runTransactionCases('redis', () =>
    startTestHotshard({
      backend: 'redis',
      redisNodes: 4,
      adminPassword: ADMIN_PASSWORD,
      adminToken: ADMIN_TOKEN,
    }),
  );
  runPoolCases(() => startTestHotshard({ backend: 'redis', redisNodes: 2, limits: { dedicatedPerNode: 2 } }));
});
