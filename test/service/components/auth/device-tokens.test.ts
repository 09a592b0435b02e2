import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDeviceTokensRepo } from '../../../../service/src/components/auth/device-tokens.js';
import { createTestDatabase, type TestDatabase } from '../../../helpers/database.js';

/**
 * Known devices (device-tokens.ts): an account keeps at most 20; issuing one more forgets the least
 * recently used, in the same statement as the insert, and never the device just issued.
 */
describe('device tokens', () => {
  let database: TestDatabase;
  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    await database?.drop();
  });

  async function newUser(): Promise<string> {
    const { rows } = await database.db.knex.raw(
      "insert into users (email, password_hash) values ('devices-' || gen_random_uuid() || '@example.com', 'x') returning id",
    );
    return rows[0].id as string;
  }
  const at = (minute: number) => new Date(Date.UTC(2026, 11, 6, 12, minute));

  it('keeps the 20 most recently used devices: the 21st forgets the least recently used one', async () => {
    const devices = createDeviceTokensRepo(database.db.knex);
    const user = await newUser();
    const tokens: string[] = [];
    for (let minute = 0; minute < 21; minute += 1) tokens.push(await devices.issue(user, at(minute)));
    const { rows } = await database.db.knex.raw('select count(*)::int as n from device_tokens where user_id = ?', [user]);
    assert.equal(rows[0].n, 20);
    assert.equal(await devices.recognise(user, tokens[0] as string, at(30)), undefined, 'the oldest is forgotten');
    for (const token of tokens.slice(1)) assert.ok(await devices.recognise(user, token, at(30)), 'the other twenty are known');
  });

  it('never forgets the device it has just issued, even when its clock is behind the others', async () => {
    const devices = createDeviceTokensRepo(database.db.knex);
    const user = await newUser();
    for (let minute = 10; minute < 30; minute += 1) await devices.issue(user, at(minute));
    const late = await devices.issue(user, at(0)); // another replica's clock, 10 minutes behind
    assert.ok(await devices.recognise(user, late, at(31)), 'the new device is known');
    const { rows } = await database.db.knex.raw('select count(*)::int as n from device_tokens where user_id = ?', [user]);
    assert.equal(rows[0].n, 20);
  });
});
