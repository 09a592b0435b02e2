/**
 * A mail sender as a replica runs it, in a process of its own, for crash-safety.test.ts to SIGKILL:
 * the real mail component on the PostgreSQL database of MAIL_TEST_DATABASE_URL, MAIL_URL and
 * MAIL_CA_FILE from the environment, the system clock and the default lease. It drains the outbox once
 * (logging as it goes, JSON lines on stdout) and exits.
 *
 *   node --import tsx test/service/components/mail/sender-process.ts
 */
import { createMailComponent } from '../../../../service/src/components/mail/index.js';
import { loadConfig } from '../../../../service/src/config/load.js';
import { systemClock } from '../../../../service/src/platform/clock.js';
import { createDatabase } from '../../../../service/src/platform/db.js';
import { createLogger } from '../../../../service/src/platform/logger.js';
import { createMetrics } from '../../../../service/src/platform/metrics.js';

const env = process.env;
if (!env.MAIL_TEST_DATABASE_URL || !env.MAIL_URL) throw new Error('MAIL_TEST_DATABASE_URL and MAIL_URL are required');
const { config } = loadConfig({
  NODE_ENV: 'test',
  LOG_LEVEL: 'info',
  MAIL_URL: env.MAIL_URL,
  MAIL_CA_FILE: env.MAIL_CA_FILE,
  MAIL_FROM: 'Rampart <no-reply@rampart.test>',
});
const logger = createLogger({ level: 'info', destination: process.stdout });
const db = createDatabase({
  url: env.MAIL_TEST_DATABASE_URL,
  poolMax: 2,
  acquireTimeoutMs: 5000,
  statementTimeoutMs: 30_000,
  applicationName: 'rampart-test-mail-sender',
});
const mail = createMailComponent({ config, db, logger, metrics: createMetrics({ defaultMetrics: false }), clock: systemClock });
logger.info('sender process draining the outbox');
await mail.sender.deliverDue();
await mail.close();
await db.close();
logger.info('sender process done');
