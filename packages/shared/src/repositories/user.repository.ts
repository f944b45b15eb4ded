import type { Queryable } from '../db/pool.js';

export interface UserRow {
  id: string;
  tabpfn_token_ciphertext: string;
  created_at: Date;
  updated_at: Date;
}

export function createUserRepository(pool: Queryable) {
  return {
    async findByTokenDigest(digest: Buffer, tx: Queryable = pool): Promise<UserRow | undefined> {
      const { rows } = await tx.query<UserRow>(
        'SELECT id, tabpfn_token_ciphertext, created_at, updated_at FROM users WHERE tabpfn_token_digest = $1',
        [digest],
      );
      return rows[0];
    },

    async findById(id: string, tx: Queryable = pool): Promise<UserRow | undefined> {
      const { rows } = await tx.query<UserRow>('SELECT id, tabpfn_token_ciphertext, created_at, updated_at FROM users WHERE id = $1', [id]);
      return rows[0];
    },

    /**
     * Inserts the account, or returns the one that already owns this token digest. The ciphertext
     * needs the user id as associated data, so the caller supplies both.
     */
    async insertOrGet(
      user: { id: string; tokenCiphertext: string; tokenDigest: Buffer },
      tx: Queryable = pool,
    ): Promise<{ row: UserRow; created: boolean }> {
      // The account that owns the digest can be deleted between the insert and the select (DELETE
      // /v1/me racing a setup with the same token); each statement sees what has committed, so the
      // insert goes through on the next try.
      for (let attempt = 1; ; attempt++) {
        const { rows } = await tx.query<UserRow>(
          `INSERT INTO users (id, tabpfn_token_ciphertext, tabpfn_token_digest) VALUES ($1, $2, $3)
           ON CONFLICT (tabpfn_token_digest) DO NOTHING
           RETURNING id, tabpfn_token_ciphertext, created_at, updated_at`,
          [user.id, user.tokenCiphertext, user.tokenDigest],
        );
        if (rows[0]) return { row: rows[0], created: true };
        const existing = await this.findByTokenDigest(user.tokenDigest, tx);
        if (existing) return { row: existing, created: false };
        if (attempt >= 3) throw new Error('user vanished between insert and select');
      }
    },

    async updateToken(id: string, tokenCiphertext: string, tokenDigest: Buffer, tx: Queryable = pool): Promise<void> {
      await tx.query('UPDATE users SET tabpfn_token_ciphertext = $2, tabpfn_token_digest = $3, updated_at = now() WHERE id = $1', [
        id,
        tokenCiphertext,
        tokenDigest,
      ]);
    },

    async updateCiphertext(id: string, tokenCiphertext: string, tx: Queryable = pool): Promise<void> {
      await tx.query('UPDATE users SET tabpfn_token_ciphertext = $2 WHERE id = $1', [id, tokenCiphertext]);
    },

    async listCiphertexts(
      afterId: string | null,
      limit: number,
      tx: Queryable = pool,
    ): Promise<Pick<UserRow, 'id' | 'tabpfn_token_ciphertext'>[]> {
      const { rows } = await tx.query(
        `SELECT id, tabpfn_token_ciphertext FROM users WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2`,
        [afterId, limit],
      );
      return rows;
    },

    /** Removes the account; keys, models, datasets, jobs and deliveries go with it (ON DELETE CASCADE). */
    async delete(id: string, tx: Queryable = pool): Promise<boolean> {
      const { rowCount } = await tx.query('DELETE FROM users WHERE id = $1', [id]);
      return (rowCount ?? 0) > 0;
    },
  };
}

export type UserRepository = ReturnType<typeof createUserRepository>;
