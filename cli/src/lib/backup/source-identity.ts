import type pg from 'pg';

/**
 * Which database a backup was taken from, beyond its host name: the cluster's system identifier
 * (pg_control_system(), set at initdb, kept by physical replicas) and the database's OID. Signed into
 * the manifest, so a backup cannot be passed off as another database's.
 */
export interface SourceIdentity {
  systemIdentifier: string;
  databaseOid: number;
}

export async function sourceIdentity(client: pg.Client): Promise<SourceIdentity> {
  const { rows } = await client.query<{ system_identifier: string; oid: string }>(
    'select (select system_identifier::text from pg_control_system()) as system_identifier, oid::text from pg_database where datname = current_database()',
  );
  const row = rows[0] as { system_identifier: string; oid: string };
  return { systemIdentifier: row.system_identifier, databaseOid: Number(row.oid) };
}
