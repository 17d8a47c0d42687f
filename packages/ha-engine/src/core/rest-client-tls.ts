/**
 * How a client of the members' REST APIs sets up TLS: which client certificate it presents, which
 * CA it trusts and how strictly it checks the server. The agent (leader-race probes, failsafe
 * pings, the unique-name check) and pghactl share this rule; each reads the files itself.
 *
 * Patroni's rule (`patroni/request.py` `PatroniRequest.reload_config`):
 *
 * - client certificate: `ctl.certfile`, with `ctl.keyfile` (else the certfile holds the key) and
 *   `ctl.keyfile_password`; never `restapi.certfile`;
 * - trusted CA: `ctl.cacert`, else `restapi.cafile`, else the system's;
 * - the agent is built with `insecure=True` (`patroni/__main__.py`): with a client certificate it
 *   verifies the chain but not the host name (`assert_hostname=False`), without one it verifies
 *   nothing; `ctl.insecure` plays no part;
 * - patronictl: `-k` or `ctl.insecure` verifies nothing without a client certificate and only
 *   the chain with one; otherwise the chain and the host name.
 *
 * pgha differs on purpose, in three places:
 *
 * - a member whose own API asks for client certificates (`restapi.verify_client`) and that has no
 *   `ctl.certfile` presents its `restapi.certfile`: a cluster set up with one certificate per
 *   member then works, where Patroni's leader races would fail every probe;
 * - the agent always verifies its peers (against `ctl.cacert` / `restapi.cafile`, the chain only
 *   as Patroni does; against the public roots, the host name too), unless `ctl.insecure: true`;
 * - `-k` / `ctl.insecure` verifies nothing, client certificate or not.
 */

/** The `ctl` keys read here (Patroni's names). */
export interface CtlTlsSection {
  insecure?: boolean | undefined;
  cacert?: string | undefined;
  certfile?: string | undefined;
  keyfile?: string | undefined;
  keyfile_password?: string | undefined;
}

/** The `restapi` keys read here. */
export interface RestapiTlsSection {
  certfile?: string | undefined;
  keyfile?: string | undefined;
  keyfile_password?: string | undefined;
  cafile?: string | undefined;
  verify_client?: string | undefined;
}

export interface RestClientTls {
  /** The client certificate to present, and the key that named it (`ctl.certfile` or `restapi.certfile`). */
  cert: { certfile: string; keyfile: string; passphrase?: string; from: 'ctl.certfile' | 'restapi.certfile' } | null;
  /** The CA bundle servers are verified against; null: Node's bundled public roots. */
  ca: { file: string; from: 'ctl.cacert' | 'restapi.cafile' } | null;
  /**
   * `none`: any certificate; `chain`: signed by `ca`, whatever host it names; `full`: signed by
   * `ca` (or a public root) and naming the host of the URL.
   */
  verify: 'none' | 'chain' | 'full';
  /** Who uses it: the hints of tlsFailureHint depend on it. */
  client: 'agent' | 'ctl';
}

export interface RestClientTlsInput {
  ctl?: CtlTlsSection | undefined;
  restapi?: RestapiTlsSection | undefined;
  /** `agent`: member-to-member calls; `ctl`: pghactl. */
  client: 'agent' | 'ctl';
  /** pghactl's `-k/--insecure` (the agent has no such flag). */
  insecure?: boolean;
}

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The rule above, from the configuration's `ctl` and `restapi` sections. */
export function restClientTls(input: RestClientTlsInput): RestClientTls {
  const ctl = input.ctl ?? {};
  const restapi = input.restapi ?? {};
  let cert: RestClientTls['cert'] = null;
  const ctlCert = text(ctl.certfile);
  const asked = restapi.verify_client === 'optional' || restapi.verify_client === 'required';
  if (ctlCert) {
    const passphrase = text(ctl.keyfile_password);
    cert = { certfile: ctlCert, keyfile: text(ctl.keyfile) ?? ctlCert, ...(passphrase ? { passphrase } : {}), from: 'ctl.certfile' };
  } else if (asked && text(restapi.certfile)) {
    const certfile = text(restapi.certfile) as string;
    const passphrase = text(restapi.keyfile_password);
    cert = { certfile, keyfile: text(restapi.keyfile) ?? certfile, ...(passphrase ? { passphrase } : {}), from: 'restapi.certfile' };
  }
  const cacert = text(ctl.cacert);
  const cafile = text(restapi.cafile);
  const ca: RestClientTls['ca'] = cacert ? { file: cacert, from: 'ctl.cacert' } : cafile ? { file: cafile, from: 'restapi.cafile' } : null;
  const insecure = ctl.insecure === true || input.insecure === true;
  const verify = insecure ? 'none' : input.client === 'agent' && ca ? 'chain' : 'full';
  return { cert, ca, verify, client: input.client };
}

/** Error codes OpenSSL gives when the server's certificate does not chain to a trusted CA. */
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
]);

/** TLS alerts a server sends when it refuses the client certificate it was given. */
const CERT_REFUSED = new Set([
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED',
  'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED',
  'ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR',
]);

/**
 * TLS alerts a server sends when the client presented no certificate and it needs one (TLS 1.3
 * says so; TLS 1.2 servers send a bare handshake failure, which other mismatches cause too).
 */
const CERT_MISSING = new Set(['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE']);

export interface TlsFailureContext {
  tls: RestClientTls;
  /** The host of the URL called. */
  host: string;
  /**
   * The client finished its side of the handshake before the error. Under TLS 1.3 the server
   * checks the client certificate after that, and a refusal can arrive as a bare reset.
   */
  handshakeDone: boolean;
}

/**
 * What went wrong, in the operator's terms with the setting to change, when `error` (from a
 * node:https request) is a TLS failure; null otherwise.
 */
export function tlsFailureHint(error: unknown, context: TlsFailureContext): string | null {
  const e = error as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : String(error);
  const { tls } = context;
  const skip = tls.client === 'ctl' ? 'pass -k/--insecure' : 'set ctl.insecure: true';
  const presented = tls.cert ? `the client certificate ${tls.cert.certfile} (${tls.cert.from})` : null;
  const tag = code ? ` [${code}]` : '';
  if (UNTRUSTED.has(code)) {
    const trusted = tls.ca ? `the CA in ${tls.ca.from} (${tls.ca.file})` : 'any public CA, and neither ctl.cacert nor restapi.cafile is set';
    return `TLS: cannot verify the certificate of ${context.host}: it is not signed by ${trusted}; set ctl.cacert to the CA that signs the members' REST API certificates, or ${skip} to skip the check${tag}`;
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return `TLS: the certificate of ${context.host} ${code === 'CERT_HAS_EXPIRED' ? 'has expired' : 'is not valid yet'} (check its dates and this host's clock)${tag}`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `TLS: the certificate of ${context.host} is not issued for that name: ${message}; use a certificate whose subjectAltName holds the host of api_url, or ${skip}${tag}`;
  }
  if (CERT_MISSING.has(code) && !presented) {
    const certain = code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED';
    return `TLS: ${context.host} ${certain ? 'requires' : 'refused the handshake; it may require'} a client certificate (its restapi.verify_client) and none was presented: set ctl.certfile and ctl.keyfile${tag}`;
  }
  if (presented && (CERT_REFUSED.has(code) || CERT_MISSING.has(code) || (context.handshakeDone && (code === 'ECONNRESET' || /socket hang up/i.test(message))))) {
    return `TLS: ${context.host} refused ${presented}: it must be signed by the CA in that member's restapi.cafile and allowed for client authentication${tag}`;
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(message)) {
    return `TLS: ${context.host} does not answer TLS on this port; if its REST API has no restapi.certfile, its api_url should start with http://${tag}`;
  }
  if (code === 'ERR_OSSL_BAD_DECRYPT' || code === 'ERR_OSSL_EVP_BAD_DECRYPT') {
    return `TLS: cannot decrypt the private key of ${presented ?? 'the client certificate'}: wrong keyfile_password${tag}`;
  }
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code.startsWith('ERR_OSSL_')) return `TLS: ${message}${tag}`;
  return null;
}
