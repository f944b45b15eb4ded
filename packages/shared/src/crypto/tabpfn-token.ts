import type { UserRepository } from '../repositories/user.repository.js';
import type { KeyRing } from './key-ring.js';

/**
 * Reads an account's TabPFN token: the one place it is decrypted (bound to the user id as associated
 * data, so a ciphertext copied to another row does not decrypt). Undefined when the account is gone.
 */
export function createTokenReader(deps: { users: Pick<UserRepository, 'findById'>; keyRing: KeyRing }) {
  return async function tabpfnToken(userId: string): Promise<string | undefined> {
    const user = await deps.users.findById(userId);
    return user && openTabPFNToken(deps.keyRing, user);
  };
}

/** An account's token from the sealed form its row keeps (read by the caller, with other rows). */
export function openTabPFNToken(keyRing: KeyRing, user: { id: string; tabpfn_token_ciphertext: string }): string {
  return keyRing.decrypt(user.tabpfn_token_ciphertext, user.id);
}

export type TokenReader = ReturnType<typeof createTokenReader>;
