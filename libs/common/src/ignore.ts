// The one way this code base lets a promise fail unobserved: named, with the reason, and logged.
import { debuglog } from 'node:util';

/** Where an ignored rejection is reported; a pino logger fits. */
export interface IgnoreLogger {
  debug(obj: object, msg: string): void;
}

/** Without a logger of their own, ignored rejections show with NODE_DEBUG=quorumlock. */
const nodeDebug = debuglog('quorumlock');
const debugLogger: IgnoreLogger = {
  debug: (obj, msg) => nodeDebug('%s %o', msg, obj),
};

/**
 * Settles with the promise's value, or with undefined when it rejects: the rejection is logged
 * at debug level as "ignored: <why>" and goes no further. For a failure that is expected and
 * harmless (best-effort cleanup, a node that does not answer a poll) or that its real observer
 * sees through another promise; `why` says which.
 */
export function ignoreRejection<T>(
  promise: PromiseLike<T>,
  why: string,
  logger: IgnoreLogger = debugLogger,
): Promise<T | undefined> {
  return Promise.resolve(promise).then(
    (value) => value,
    (err: unknown) => {
      logger.debug({ err }, `ignored: ${why}`);
      return undefined;
    },
  );
}
