/**
 * How the ZooKeeper driver reports failures as `DcsError`s: a refusal by the server (ACL,
 * authentication, bad arguments) is DCS_REJECTED, since retrying cannot help; a missing answer is
 * DCS_UNAVAILABLE; any call after close() is DCS_CLOSED.
 */
import { DcsError, DcsErrorCode } from '@pgha/dcs';
import { SERVER_ANSWERS, ZRC, type Reply, type Request } from './protocol.js';

/** The error for a reply that is not the success the caller needed. */
export function replyError(connectString: string, r: Reply, op: string, path: string): DcsError {
  const detail = `ZooKeeper (${connectString}) ${op} ${path}: ${r.rc} ${r.message ?? ''}`.trim();
  if (r.rc === ZRC.noAuth || r.rc === ZRC.authFailed || r.rc === ZRC.invalidAcl) {
    return new DcsError(DcsErrorCode.Rejected, detail, { hint: 'check zookeeper.auth_data and the znode ACLs' });
  }
  if (SERVER_ANSWERS.has(r.rc) || r.rc === ZRC.badArguments) return new DcsError(DcsErrorCode.Rejected, detail);
  return unavailable(detail);
}

export function unavailable(message: string): DcsError {
  return new DcsError(DcsErrorCode.Unavailable, message);
}

export function closedError(prefix: string): DcsError {
  return new DcsError(DcsErrorCode.Closed, `the ZooKeeper driver for ${prefix} was closed`);
}

/** A request as error messages name it: `get /service/pg/leader`. */
export function requestLabel(request: Request): string {
  return `${request.op} ${'path' in request ? request.path : ''}`;
}
