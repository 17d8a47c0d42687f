// The `etcd3:` section: Patroni's keys and precedence, and errors that name the key.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDcsError } from '@pgha/dcs';
import { createDriver, parseEtcdSection } from '../src/index.js';
import { driverOptions, recordingLogger } from './fixtures/driver-options.js';

function configError(section: Record<string, unknown>): string {
  try {
    parseEtcdSection(section);
  } catch (e) {
    expect(isDcsError(e, 'DCS_CONFIG'), String(e)).toBe(true);
    return (e as Error).message;
  }
  throw new Error(`expected a DCS_CONFIG error for ${JSON.stringify(section)}`);
}

describe('endpoints', () => {
  it('reads host, hosts (list or comma-separated) and url, with port 2379 by default', () => {
    expect(parseEtcdSection({ host: '10.0.0.1:2380' }).endpoints).toEqual(['http://10.0.0.1:2380']);
    expect(parseEtcdSection({ host: 'etcd.example' }).endpoints).toEqual(['http://etcd.example:2379']);
    expect(parseEtcdSection({ hosts: '10.0.0.1:2379, 10.0.0.2:2381,10.0.0.3' }).endpoints).toEqual([
      'http://10.0.0.1:2379',
      'http://10.0.0.2:2381',
      'http://10.0.0.3:2379',
    ]);
    expect(parseEtcdSection({ hosts: ['a:1', 'b'], port: 4001 }).endpoints).toEqual(['http://a:1', 'http://b:4001']);
    expect(parseEtcdSection({ hosts: ['[::1]:2379', '[fe80::1]'] }).endpoints).toEqual(['http://[::1]:2379', 'http://[fe80::1]:2379']);
    expect(parseEtcdSection({ url: 'https://etcd.example:2379' })).toMatchObject({ endpoints: ['https://etcd.example:2379'], tls: true });
    expect(parseEtcdSection({ urls: 'http://a:1,http://b:2' }).endpoints).toEqual(['http://a:1', 'http://b:2']);
  });

  it('follows Patroni precedence: url over hosts over host', () => {
    expect(parseEtcdSection({ url: 'http://u:1', hosts: 'h:2', host: 'x:3' }).endpoints).toEqual(['http://u:1']);
    expect(parseEtcdSection({ hosts: 'h:2', host: 'x:3' }).endpoints).toEqual(['http://h:2']);
  });

  it('applies protocol to host:port entries', () => {
    const s = parseEtcdSection({ hosts: ['a:1', 'b:2'], protocol: 'https', cacert: '/ca.pem' });
    expect(s.endpoints).toEqual(['https://a:1', 'https://b:2']);
    expect(s.tls).toBe(true);
    expect(s.cacert).toBe('/ca.pem');
  });

  it('takes credentials from username/password, or from the url', () => {
    expect(parseEtcdSection({ host: 'a', username: 'patroni', password: 1234 }).auth).toEqual({ username: 'patroni', password: '1234' });
    expect(parseEtcdSection({ url: 'http://u%40x:p%3Aw@a:1' }).auth).toEqual({ username: 'u@x', password: 'p:w' });
    expect(parseEtcdSection({ host: 'a' }).auth).toBeUndefined();
  });

  it('warns about unknown keys and certificates on plain http, without failing', () => {
    const s = parseEtcdSection({ host: 'a', retry_timeout: 10, cacert: '/ca.pem' });
    expect(s.warnings).toEqual([
      'etcd3.retry_timeout: unknown key, ignored',
      'etcd3.cacert/cert: ignored because the endpoints use http (set etcd3.protocol: https)',
    ]);
    expect(s.cacert).toBeUndefined();
  });
});

describe('errors name the key', () => {
  it('rejects a bad entry of hosts with its index', () => {
    expect(configError({ hosts: ['10.0.0.1:2379', 'bad host:x'] })).toBe('etcd3.hosts[1]: "bad host:x" is not host:port');
    expect(configError({ hosts: ['a:99999'] })).toBe('etcd3.hosts[0]: port 99999 is out of range');
    expect(configError({ hosts: [] })).toBe('etcd3.hosts: no endpoint given');
  });

  it('rejects values of the wrong type', () => {
    expect(configError({ hosts: ['a:1', 7] })).toMatch(/^etcd3\.hosts/);
    expect(configError({ host: 'a', protocol: 'ftp' })).toMatch(/^etcd3\.protocol: /);
    expect(configError({ host: 42 })).toMatch(/^etcd3\.host: /);
  });

  it('requires somewhere to connect to', () => {
    expect(configError({})).toMatch(/^etcd3: one of host, hosts or url is required/);
  });

  it('says srv and proxy are not supported', () => {
    expect(configError({ srv: 'example.com' })).toMatch(/^etcd3\.srv: DNS SRV discovery is not supported/);
    expect(configError({ proxy: 'http://proxy:2379' })).toMatch(/^etcd3\.proxy: etcd proxies are not supported/);
  });

  it("accepts Patroni's use_proxies (pgha only ever talks to the listed hosts), and checks its type", () => {
    for (const use_proxies of [true, false]) {
      const parsed = parseEtcdSection({ hosts: ['a:1', 'b:2'], use_proxies });
      expect(parsed.endpoints).toEqual(['http://a:1', 'http://b:2']);
      expect(parsed.warnings).toEqual([]);
    }
    expect(configError({ host: 'a', use_proxies: 'yes' })).toMatch(/^etcd3\.use_proxies: /);
  });

  it('rejects bad urls, mixed schemes and half-given credentials', () => {
    expect(configError({ url: 'not a url' })).toBe('etcd3.url: "not a url" is not a URL');
    expect(configError({ url: 'http://a:1/v3' })).toBe('etcd3.url: a path (/v3) is not supported');
    expect(configError({ urls: ['http://a:1', 'ftp://b:2'] })).toBe('etcd3.urls[1]: unsupported scheme ftp: (use http or https)');
    expect(configError({ hosts: ['http://a:1', 'https://b:2'] })).toBe('etcd3.hosts: mixes http and https endpoints');
    expect(configError({ host: 'a', password: 'x' })).toBe('etcd3.username: required when etcd3.password is set');
    expect(configError({ host: 'a', key: '/k.pem' })).toBe('etcd3.key: given without etcd3.cert');
  });
});

describe('createDriver', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pgha-etcd-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('rejects DCS_CONFIG naming the key and the file when a PEM file cannot be read', async () => {
    const missing = join(dir, 'missing-ca.pem');
    const error = await Promise.resolve(createDriver(driverOptions([], { scope: 's', name: 'n', section: { host: 'a', protocol: 'https', cacert: missing } }))).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isDcsError(error, 'DCS_CONFIG')).toBe(true);
    expect((error as Error).message).toContain(`etcd3.cacert: cannot read ${missing}`);
  });

  it('rejects a cert file without a private key when no key file is given', async () => {
    const cert = join(dir, 'cert.pem');
    await writeFile(cert, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const error = await Promise.resolve(createDriver(driverOptions([], { scope: 's', name: 'n', section: { host: 'a', protocol: 'https', cert } }))).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isDcsError(error, 'DCS_CONFIG')).toBe(true);
    expect((error as Error).message).toBe(`etcd3.key: required: ${cert} holds no private key`);
  });

  it('logs the warnings and builds a driver without contacting etcd', async () => {
    const logger = recordingLogger();
    const d = await createDriver(driverOptions([], { scope: 'batman', name: 'pg0', section: { hosts: '127.0.0.1:1', whatever: 1 }, logger }));
    expect(d.kind).toBe('etcd3');
    expect(d.prefix).toBe('/service/batman/');
    expect(d.hold()).toEqual({ validUntil: null, ttl: 10 });
    expect(logger.lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual(['etcd3.whatever: unknown key, ignored']);
    // Nothing listens on port 1: the call fails by its deadline instead of hanging.
    const error = await d.load({ timeoutMs: 500 }).then(() => null, (e: unknown) => e);
    expect(isDcsError(error, 'DCS_UNAVAILABLE')).toBe(true);
    await d.close();
  });
});
