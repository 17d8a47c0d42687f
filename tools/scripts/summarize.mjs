// Reads vitest's JSON report and prints the closing line CI reads: "N passed, N failed".
// Typecheck and lint count as one check each. A vitest run that crashed without a report, or
// that ran no test, counts as a failure.
import { readFileSync } from 'node:fs';

const [reportPath, checksPassed, checksFailed, vitestStatus] = process.argv.slice(2);
let passed = Number(checksPassed);
let failed = Number(checksFailed);
let skipped = 0;
try {
  const report = JSON.parse(readFileSync(reportPath, 'utf8'));
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  skipped += report.numPendingTests + (report.numTodoTests ?? 0);
  // Files that failed to load (syntax errors, failing hooks) have no failed test of their own.
  const brokenFiles = report.testResults.filter((f) => f.status === 'failed' && f.assertionResults.every((a) => a.status !== 'failed'));
  for (const f of brokenFiles) console.log(`broken test file: ${f.name}: ${(f.message ?? '').split('\n')[0]}`);
  failed += brokenFiles.length;
  if (report.numTotalTests === 0) {
    console.log('vitest ran no test');
    failed += 1;
  }
} catch (e) {
  console.log(`no vitest report (${e.message})`);
  failed += 1;
}
if (Number(vitestStatus) !== 0 && failed === 0) failed += 1;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 ? 0 : 1);
