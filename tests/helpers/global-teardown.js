import pg from 'pg';

export default async function globalTeardown() {
  const adminUrl = process.env.TEST_PG_ADMIN_URL;
  const runId = process.env.TEST_RUN_ID;
  if (adminUrl && runId) {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    const { rows } = await client.query(
      'SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2',
      [`tpl_${runId}`, `t_${runId}_%`],
    );
    for (const { datname } of rows) {
      await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => undefined);
    }
    await client.end();
  }
  await Promise.all((globalThis.__testContainers ?? []).map((c) => c.stop()));
}
