import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Logger } from '../logger.js';

/**
 * Named prepared statements for parameterized queries, chosen per pool.
 *
 * Postgres parses and plans an unnamed statement on every run: 0.3–0.7 ms of its CPU for the submit's
 * insert and the predict's start on this project's machines, on the path of every job. A named one is
 * parsed once per connection and, once Postgres settles on a generic plan, planned once. The name comes
 * from the text, so a text has one name on every connection and in every process of one build, and
 * two texts never share one.
 *
 * Only a statement sent on its own is named: outside a transaction, with nothing else in flight on the
 * connection (the submit's insert, a predict's start and finish, every poll). Such a statement that
 * fails before it runs can run again, which is how the two ways a kept statement goes wrong recover:
 * - a migration that changes what a `*` in it expands to makes Postgres refuse the kept plan ("cached
 *   plan must not change result type"): the text gets a new name in the whole pool, so every connection
 *   prepares it afresh, and the statement runs again under it;
 * - a pooler in transaction mode that does not track prepared statements (PgBouncer before 1.21, or
 *   without `max_prepared_statements`) runs a connection's statements on other server sessions, where
 *   the name is missing or already taken: the pool stops naming statements, says so once, and the
 *   statement runs again unnamed. Behind such a pooler set `DB_PREPARED_STATEMENTS=false`.
 * Statements inside transactions stay unnamed, so neither can fail a transaction.
 */

/** Texts named per process at most: a text built with a varying number of placeholders stays unnamed past it. */
export const MAX_NAMED_TEXTS = 1_000;

export interface PreparedStatements {
  /** False from the start (`DB_PREPARED_STATEMENTS=false`), or once a pooler showed it keeps no statements. */
  enabled: boolean;
  /** Each named text's current name. */
  readonly names: Map<string, string>;
  readonly maxNames: number;
  /** Names given again so far (see `rename`). */
  renamed: number;
  readonly logger?: Logger | undefined;
}

export function preparedStatements(enabled: boolean, logger?: Logger, maxNames = MAX_NAMED_TEXTS): PreparedStatements {
  return { enabled, names: new Map(), maxNames, renamed: 0, logger };
}

const hashName = (text: string) => `tj_${createHash('sha256').update(text).digest('base64url').slice(0, 24)}`;

function nameOf(state: PreparedStatements, text: string): string | undefined {
  let name = state.names.get(text);
  if (name === undefined && state.names.size < state.maxNames) {
    name = hashName(text);
    state.names.set(text, name);
  }
  return name;
}

/**
 * A new name for `text` in the whole pool: every connection prepares it afresh on its next use. For a
 * plan made stale by a migration, and for a statement node-pg closed again after a value failed to
 * convert (it still counts it as prepared on that connection).
 */
function rename(state: PreparedStatements, text: string): void {
  if (state.names.has(text)) state.names.set(text, `${hashName(text)}_${++state.renamed}`);
}

const code = (err: unknown) => (err as { code?: unknown } | null)?.code;
const isStalePlan = (err: unknown) =>
  code(err) === '0A000' && /cached plan must not change result type/.test(String((err as Error).message));
/** "prepared statement … does not exist" / "… already exists": the session is not the one that prepared it. */
const isPoolerConflict = (err: unknown) => code(err) === '26000' || code(err) === '42P05';

type Callback = (err: Error | null, result?: pg.QueryResult) => void;
interface TextQuery extends pg.QueryConfig {
  text: string;
  values: unknown[];
}

/** The query to name, or undefined for anything else (no parameters, a name already, a submittable such as a cursor). */
function nameable(config: unknown, values: unknown): TextQuery | undefined {
  if (typeof config === 'string') return Array.isArray(values) && values.length > 0 ? { text: config, values } : undefined;
  if (!config || typeof config !== 'object') return undefined;
  const c = config as Partial<TextQuery> & { submit?: unknown; callback?: unknown };
  const vals = Array.isArray(values) ? values : c.values;
  if (typeof c.text !== 'string' || c.name || c.submit || c.callback || !Array.isArray(vals) || vals.length === 0) return undefined;
  return { ...c, text: c.text, values: vals };
}

/** A `pg.Client` for `new pg.Pool({ Client })` that runs parameterized statements sent on their own as named statements while `state.enabled`. */
export function preparingClient(state: PreparedStatements): typeof pg.Client {
  return class PreparingClient extends pg.Client {
    // biome-ignore lint/suspicious/noExplicitAny: pg.Client#query's overloads, passed through as they come
    override query(config: any, values?: any, callback?: any): any {
      const q = state.enabled && this.alone() ? nameable(config, values) : undefined;
      if (!q) return super.query(config, values, callback);
      const done: Callback | undefined = typeof values === 'function' ? values : callback;
      const result = this.runNamed(q);
      if (!done) return result;
      // As node-pg calls back: outside the promise, so a callback that throws is not swallowed.
      result.then(
        (r) => process.nextTick(done, null, r),
        (err: Error) => process.nextTick(done, err),
      );
      return undefined;
    }

    /** Outside a transaction with nothing in flight: what is sent now runs on its own. */
    private alone(): boolean {
      return this.getTransactionStatus() === 'I' && (this as unknown as { readyForQuery?: boolean }).readyForQuery === true;
    }

    private async runNamed(q: TextQuery, retried = false): Promise<pg.QueryResult> {
      const name = state.enabled ? nameOf(state, q.text) : undefined;
      if (!name) return super.query(q);
      try {
        return await super.query({ ...q, name });
      } catch (err) {
        if (isStalePlan(err)) rename(state, q.text);
        else if (isPoolerConflict(err)) disable(state, err);
        else {
          // A value that failed to convert: node-pg closed the statement again but counts it as prepared here.
          if (!(err instanceof pg.DatabaseError)) rename(state, q.text);
          throw err;
        }
        // It ran on its own and failed before running (Bind or Parse): nothing of it took effect.
        if (retried) throw err;
        return this.runNamed(q, true);
      }
    }
  };
}

function disable(state: PreparedStatements, err: unknown): void {
  if (!state.enabled) return;
  state.enabled = false;
  state.logger?.warn(
    { err: (err as Error).message, code: code(err) },
    'postgres: a prepared statement was missing or taken on its connection, as behind a pooler in transaction mode; statements run unnamed from now on (set DB_PREPARED_STATEMENTS=false there)',
  );
}
