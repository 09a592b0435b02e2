import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { drillMetricsText, pushDrillMetrics } from '../../cli/src/lib/backup/pushgateway.js';

describe('drill results pushed for the backup-drill alerts', () => {
  it('POSTs the outcome to the Pushgateway under job rampart_backup_drill', async () => {
    const seen: { method?: string; url?: string; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, body });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      await pushDrillMetrics(base, { ok: true, finishedAt: '2026-11-27T22:00:00.000Z', rtoSeconds: 12.5, rpoSeconds: 3600 });
    } finally {
      server.close();
    }
    assert.equal(seen[0]?.method, 'POST', 'POST keeps the last success timestamp when a later drill fails');
    assert.equal(seen[0]?.url, '/metrics/job/rampart_backup_drill');
    assert.match(seen[0]?.body ?? '', /^rampart_backup_drill_last_result 1$/m);
    assert.match(seen[0]?.body ?? '', /^rampart_backup_drill_last_success_timestamp_seconds 1795816800$/m);
    assert.match(seen[0]?.body ?? '', /^rampart_backup_drill_rto_seconds 12.5$/m);
  });

  it('reports a failed drill without touching the last success time', () => {
    const text = drillMetricsText({ ok: false, finishedAt: '2026-11-27T22:00:00.000Z', rtoSeconds: null, rpoSeconds: 90_000 });
    assert.match(text, /^rampart_backup_drill_last_result 0$/m);
    assert.doesNotMatch(text, /last_success_timestamp_seconds \d/);
    assert.match(text, /^rampart_backup_drill_rpo_seconds 90000$/m);
  });

  it('pushes the latest verified backup sequence, failed drill or not, so that deleted newest backups show as a decrease', () => {
    const failed = drillMetricsText({ ok: false, finishedAt: '2026-11-27T22:00:00.000Z', rtoSeconds: null, rpoSeconds: 1, latestSequence: 42 });
    assert.match(failed, /^# TYPE rampart_backup_latest_sequence gauge$/m);
    assert.match(failed, /^rampart_backup_latest_sequence 42$/m);
    const none = drillMetricsText({ ok: true, finishedAt: '2026-11-27T22:00:00.000Z', rtoSeconds: 1, rpoSeconds: 1 });
    assert.doesNotMatch(none, /rampart_backup_latest_sequence/);
  });

  it('fails loudly when the Pushgateway refuses', async () => {
    const server = createServer((_req, res) => res.writeHead(500).end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await assert.rejects(pushDrillMetrics(base, { ok: true, finishedAt: new Date().toISOString(), rtoSeconds: 1, rpoSeconds: 1 }), /HTTP 500/);
    } finally {
      server.close();
    }
  });
});
