import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { installFaultHook } from '../../../service/src/platform/fault-hook.js';
import { createLogger } from '../../../service/src/platform/logger.js';
import { createMetrics } from '../../../service/src/platform/metrics.js';
import { requestContextStorage } from '../../../service/src/platform/request-context.js';

function capture() {
  const lines: Record<string, any>[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { lines, logger: createLogger({ level: 'info', destination }) };
}

describe('process fault hook', () => {
  it('logs an uncaught exception as fatal with its stack and request id, counts it, and shuts down non-zero', async () => {
    const proc = new EventEmitter();
    const { lines, logger } = capture();
    const metrics = createMetrics({ defaultMetrics: false });
    const stops: [number, string][] = [];
    installFaultHook(proc as unknown as NodeJS.Process, { logger, metrics, exitCode: 70, shutdown: (code, reason) => stops.push([code, reason]) });

    requestContextStorage.run({ requestId: 'req-42', ip: '127.0.0.1' }, () => {
      proc.emit('uncaughtException', new Error('boom in a handler'));
    });
    proc.emit('unhandledRejection', new Error('forgotten promise'));

    assert.deepEqual(stops, [
      [70, 'uncaught_exception'],
      [70, 'unhandled_rejection'],
    ]);
    const fatal = lines.filter((l) => l.level === 'fatal');
    assert.equal(fatal.length, 2);
    assert.equal(fatal[0]?.request_id, 'req-42');
    assert.match(fatal[0]?.err.stack, /boom in a handler/);
    const text = await metrics.registry.metrics();
    assert.match(text, /process_faults_total\{kind="uncaught_exception"\} 1/);
    assert.match(text, /process_faults_total\{kind="unhandled_rejection"\} 1/);
  });
});
