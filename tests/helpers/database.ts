import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

function admin(): { url: string; template: string; runId: string } {
  const url = process.env.TEST_PG_ADMIN_URL;
  const template = process.env.TEST_PG_TEMPLATE;
  const runId = process.env.TEST_RUN_ID;
  if (!url || !template || !runId) throw new Error('tests/helpers/global-setup.ts did not run');
  return { url, template, runId };
}

/** A fresh, migrated database cloned from the run's template: one per test file. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const { url, template, runId } = admin();
  const name = `t_${runId}_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
  } finally {
    await client.end();
  }
  const dbUrl = new URL(url);
  dbUrl.pathname = `/${name}`;
  return {
    url: dbUrl.toString(),
    name,
    async drop() {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => undefined);
      await c.end();
    },
  };
}

/** One statement as the run's admin (CREATE/DROP DATABASE for tests that need a database of their own). */
export async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: admin().url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
