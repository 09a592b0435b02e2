// A node:test reporter that writes one JSON line per finished test (not per suite): its outcome, and for a
// skipped test the reason. scripts/run-tests.ts adds it beside the human `spec` reporter and totals the
// lines of every file, so the closing summary can name each skipped test with its reason.
export default async function* testResults(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { name, file, skip, todo, details } = event.data;
    if (details?.type === 'suite') {
      // A suite that fails outside its tests (a before hook, a describe body that throws) fails the file.
      if (event.type === 'test:fail' && details.error?.failureType !== 'subtestsFailed')
        yield `${JSON.stringify({ name, file, outcome: 'fail', suite: true, error: String(details.error?.message ?? details.error) })}\n`;
      else if (skip !== undefined && skip !== false) yield `${JSON.stringify({ name, file, outcome: 'skip', suite: true, reason: typeof skip === 'string' ? skip : '' })}\n`;
      continue;
    }
    let outcome = event.type === 'test:pass' ? 'pass' : 'fail';
    if (skip !== undefined && skip !== false) outcome = 'skip';
    else if (todo !== undefined && todo !== false) outcome = 'todo';
    else if (event.type === 'test:fail' && details?.error?.failureType === 'cancelledByParent') outcome = 'cancelled';
    const line = { name, file, outcome };
    if (outcome === 'skip') line.reason = typeof skip === 'string' ? skip : '';
    yield `${JSON.stringify(line)}\n`;
  }
}
