// Prints CI's closing "N passed, N failed, N skipped" line from vitest's JSON
// report and exit status. A file that failed outside its tests (a beforeAll
// that threw leaves them "skipped"; an import that threw leaves none) counts
// as one failure, and so does a non-zero exit with nothing else failed (an
// unhandled error: vitest's JSON then says success).
// Usage: node .ci/summary.js <vitest.json> <exit status of npm test>
import { existsSync, readFileSync } from 'node:fs';

const [file = '.ci-report/vitest.json', status = '1'] = process.argv.slice(2);
if (!existsSync(file)) {
  console.log(`ci: no test report (${file}), npm test exited ${status}`);
  console.log('0 passed, 1 failed');
  process.exit(0);
}
const r = JSON.parse(readFileSync(file, 'utf8'));
const failedOutsideTests = (r.testResults ?? []).filter(
  (s) => s.status === 'failed' && !(s.assertionResults ?? []).some((a) => a.status === 'failed'),
).length;
let failed = r.numFailedTests + failedOutsideTests;
if (failed === 0 && (status !== '0' || r.success === false)) {
  console.log(`ci: npm test exited ${status} with no failed test (an unhandled error?): counted as 1 failed`);
  failed = 1;
}
console.log(`${r.numPassedTests} passed, ${failed} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
