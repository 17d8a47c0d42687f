/**
 * A reload's new `etcd3:` section against the running connection. The endpoints can change in
 * place: leases and keys live in the etcd cluster, not in a client, so the same lease goes on
 * through the new members' clients. TLS material and credentials are read once into clients and
 * tokens; changing them takes a restart, said by key.
 */
import type { EtcdConnection } from './config.js';

export interface EndpointChange {
  /** The new endpoint list when it differs, else null. */
  endpoints: string[] | null;
  restartRequired: string[];
}

const sameBuffer = (a: Buffer | undefined, b: Buffer | undefined) => (a === undefined ? b === undefined : b !== undefined && a.equals(b));

export function planEndpointChange(current: EtcdConnection, next: EtcdConnection): EndpointChange {
  const restartRequired: string[] = [];
  const a = current.credentials;
  const b = next.credentials;
  if ((a === undefined) !== (b === undefined) || (a && b && !(sameBuffer(a.rootCertificate, b.rootCertificate) && sameBuffer(a.certChain, b.certChain) && sameBuffer(a.privateKey, b.privateKey)))) {
    restartRequired.push('etcd3 TLS (protocol, cacert, cert, key): the clients hold them from the start');
  }
  if (current.auth?.username !== next.auth?.username || current.auth?.password !== next.auth?.password) {
    restartRequired.push('etcd3 username / password: the session authenticated with them at the start');
  }
  const changed = current.endpoints.join(',') !== next.endpoints.join(',');
  return { endpoints: changed && restartRequired.length === 0 ? next.endpoints : null, restartRequired };
}
