import { ForbiddenError, NotFoundError } from './errors.js';

/**
 * The ownership rule of the API in one place: a resource that does not exist is 404
 * (`<kind>_not_found`); one that belongs to another account is 403.
 */
export function assertOwned<T extends { user_id: string }>(row: T | undefined, userId: string, kind: 'job' | 'model' | 'api_key'): T {
  const label = kind.replace('_', ' ');
  if (!row) throw new NotFoundError(`${kind}_not_found`, `No such ${label}.`);
  if (row.user_id !== userId) throw new ForbiddenError('forbidden', `This ${label} belongs to another account.`);
  return row;
}
