import { ApiError } from '../../src/errors';
import { EngineError } from '../../src/engine/errors';
import { toApiError } from '../../src/http/problem';

/**
 * The problem fn's error becomes for clients: an ApiError as thrown, or an engine domain error
 * as the HTTP layer maps it (fails the test when it throws something else or nothing).
 */
export function problem(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    if (err instanceof EngineError) return toApiError(err) ?? (err as never);
    throw err;
  }
  throw new Error('expected an ApiError');
}
