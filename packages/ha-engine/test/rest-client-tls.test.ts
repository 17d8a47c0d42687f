// Issue 16: which certificate a REST client presents, which CA it trusts, how strictly it checks
// (Patroni's PatroniRequest, with pgha's three documented differences), and the failure hints.
import { describe, expect, it } from 'vitest';
import { restClientTls, tlsFailureHint, type RestClientTlsInput } from '../src/index.js';

const ctlCert = { certfile: '/c/ctl.pem', keyfile: '/c/ctl-key.pem', keyfile_password: 'pw' };
const restapiTls = { certfile: '/c/member.pem', keyfile: '/c/member-key.pem', cafile: '/c/ca.pem' };

describe('restClientTls', () => {
  const rows: Array<[string, RestClientTlsInput, string]> = [
    ['agent, nothing set', { client: 'agent' }, 'cert=- ca=- verify=full'],
    ['agent, ctl certificate and cacert', { client: 'agent', ctl: { ...ctlCert, cacert: '/c/ctl-ca.pem' }, restapi: restapiTls }, 'cert=ctl.certfile:/c/ctl.pem+/c/ctl-key.pem ca=ctl.cacert:/c/ctl-ca.pem verify=chain'],
    ['agent, ctl certificate holding its key, restapi.cafile', { client: 'agent', ctl: { certfile: '/c/both.pem' }, restapi: restapiTls }, 'cert=ctl.certfile:/c/both.pem+/c/both.pem ca=restapi.cafile:/c/ca.pem verify=chain'],
    ['agent, no ctl certificate, own API without verify_client', { client: 'agent', restapi: restapiTls }, 'cert=- ca=restapi.cafile:/c/ca.pem verify=chain'],
    ['agent, no ctl certificate, own API with verify_client', { client: 'agent', restapi: { ...restapiTls, verify_client: 'required' } }, 'cert=restapi.certfile:/c/member.pem+/c/member-key.pem ca=restapi.cafile:/c/ca.pem verify=chain'],
    ['agent, ctl.insecure', { client: 'agent', ctl: { ...ctlCert, insecure: true }, restapi: restapiTls }, 'cert=ctl.certfile:/c/ctl.pem+/c/ctl-key.pem ca=restapi.cafile:/c/ca.pem verify=none'],
    ['agent ignores the -k flag', { client: 'agent', insecure: false, ctl: ctlCert }, 'cert=ctl.certfile:/c/ctl.pem+/c/ctl-key.pem ca=- verify=full'],
    ['ctl, nothing set', { client: 'ctl' }, 'cert=- ca=- verify=full'],
    ['ctl, private CA and client certificate', { client: 'ctl', ctl: { ...ctlCert, cacert: '/c/ctl-ca.pem' } }, 'cert=ctl.certfile:/c/ctl.pem+/c/ctl-key.pem ca=ctl.cacert:/c/ctl-ca.pem verify=full'],
    ['ctl on a member, its restapi CA', { client: 'ctl', restapi: restapiTls }, 'cert=- ca=restapi.cafile:/c/ca.pem verify=full'],
    ['ctl, -k', { client: 'ctl', insecure: true, ctl: ctlCert }, 'cert=ctl.certfile:/c/ctl.pem+/c/ctl-key.pem ca=- verify=none'],
    ['ctl, ctl.insecure', { client: 'ctl', ctl: { insecure: true } }, 'cert=- ca=- verify=none'],
  ];
  it.each(rows)('%s', (_name, input, expected) => {
    const t = restClientTls(input);
    const cert = t.cert ? `${t.cert.from}:${t.cert.certfile}+${t.cert.keyfile}` : '-';
    const ca = t.ca ? `${t.ca.from}:${t.ca.file}` : '-';
    expect(`cert=${cert} ca=${ca} verify=${t.verify}`).toBe(expected);
  });

  it('keeps the key password with the certificate it opens', () => {
    expect(restClientTls({ client: 'agent', ctl: ctlCert }).cert?.passphrase).toBe('pw');
    expect(restClientTls({ client: 'agent', restapi: { ...restapiTls, keyfile_password: 'm', verify_client: 'optional' } }).cert?.passphrase).toBe('m');
  });
});

describe('tlsFailureHint', () => {
  const err = (code: string, message = code) => Object.assign(new Error(message), { code });
  const agent = restClientTls({ client: 'agent', restapi: { cafile: '/c/ca.pem' } });
  const ctl = restClientTls({ client: 'ctl', ctl: { ...ctlCert, cacert: '/c/ca.pem' } });
  const at = { host: 'pg1:8008', handshakeDone: false };

  it('names the setting to change', () => {
    expect(tlsFailureHint(err('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'), { ...at, tls: agent })).toBe(
      'TLS: pg1:8008 requires a client certificate (its restapi.verify_client) and none was presented: set ctl.certfile and ctl.keyfile [ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED]',
    );
    expect(tlsFailureHint(err('SELF_SIGNED_CERT_IN_CHAIN'), { ...at, tls: agent })).toBe(
      "TLS: cannot verify the certificate of pg1:8008: it is not signed by the CA in restapi.cafile (/c/ca.pem); set ctl.cacert to the CA that signs the members' REST API certificates, or set ctl.insecure: true to skip the check [SELF_SIGNED_CERT_IN_CHAIN]",
    );
    expect(tlsFailureHint(err('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), { ...at, tls: ctl })).toMatch(/or pass -k\/--insecure to skip the check/);
    expect(tlsFailureHint(err('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"), { ...at, tls: ctl })).toMatch(/is not issued for that name/);
    expect(tlsFailureHint(err('CERT_HAS_EXPIRED'), { ...at, tls: ctl })).toMatch(/has expired/);
    expect(tlsFailureHint(err('ERR_SSL_WRONG_VERSION_NUMBER'), { ...at, tls: ctl })).toMatch(/does not answer TLS on this port/);
  });

  it('reads a reset after the handshake as a refused client certificate, only when one was presented', () => {
    const reset = err('ECONNRESET', 'socket hang up');
    expect(tlsFailureHint(reset, { ...at, tls: ctl, handshakeDone: true })).toBe(
      "TLS: pg1:8008 refused the client certificate /c/ctl.pem (ctl.certfile): it must be signed by the CA in that member's restapi.cafile and allowed for client authentication [ECONNRESET]",
    );
    expect(tlsFailureHint(reset, { ...at, tls: ctl, handshakeDone: false })).toBeNull();
    expect(tlsFailureHint(reset, { ...at, tls: agent, handshakeDone: true })).toBeNull();
    expect(tlsFailureHint(err('ECONNREFUSED'), { ...at, tls: agent })).toBeNull();
  });
});
