// The `zookeeper:` section: what is accepted, and how a bad value is reported (no server needed).
import { describe, expect, it } from 'vitest';
import { DcsErrorCode, isDcsError, silentLogger, systemClock } from '@pgha/dcs';
import { digestId } from '../src/config.js';
import { createDriver, parseZooKeeperSection } from '../src/index.js';
import { recordingLogger } from './fixtures/driver-options.js';

function configError(section: Record<string, unknown>): { message: string; hint: string | undefined } {
  try {
    parseZooKeeperSection(section, silentLogger);
  } catch (e) {
    expect(isDcsError(e, DcsErrorCode.Config), String(e)).toBe(true);
    return { message: (e as Error).message, hint: (e as { hint?: string }).hint };
  }
  throw new Error(`no error for ${JSON.stringify(section)}`);
}

describe('zookeeper.hosts', () => {
  it('accepts a list or a comma-separated string, with 2181 as the default port', () => {
    expect(parseZooKeeperSection({ hosts: ['zk1:2181', 'zk2', '10.0.0.3:2182'] }, silentLogger).connectString).toBe(
      'zk1:2181,zk2:2181,10.0.0.3:2182',
    );
    expect(parseZooKeeperSection({ hosts: 'zk1:2181, zk2 ,zk3:3000' }, silentLogger).hosts).toEqual(['zk1:2181', 'zk2:2181', 'zk3:3000']);
    expect(parseZooKeeperSection({ hosts: '[::1]:2181' }, silentLogger).hosts).toEqual(['[::1]:2181']);
  });

  it('keeps a chroot after the last host, as kazoo and the C client do', () => {
    const s = parseZooKeeperSection({ hosts: 'zk1:2181,zk2:2181/pgha/prod' }, silentLogger);
    expect(s.hosts).toEqual(['zk1:2181', 'zk2:2181']);
    expect(s.chroot).toBe('/pgha/prod');
    expect(s.connectString).toBe('zk1:2181,zk2:2181/pgha/prod');
  });

  it('names the key path of a missing or malformed entry', () => {
    expect(configError({}).message).toMatch(/^zookeeper\.hosts: is required/);
    expect(configError({ hosts: [] }).message).toMatch(/^zookeeper\.hosts: names no host/);
    expect(configError({ hosts: ['zk1:2181', 'zk2:99999'] }).message).toMatch(/^zookeeper\.hosts\[1\]: port of "zk2:99999"/);
    expect(configError({ hosts: ['zk1:2181', 42] }).message).toMatch(/^zookeeper\.hosts\[1\]: expected a "host:port" string/);
    expect(configError({ hosts: 'zk1:2181,zk 2:2181' }).message).toMatch(/^zookeeper\.hosts \(entry 2\): "zk 2:2181" is not host\[:port\]/);
    expect(configError({ hosts: 'zk1:2181/' }).message).toMatch(/chroot "\/" is not an absolute znode path/);
    expect(configError({ hosts: { a: 1 } }).message).toMatch(/^zookeeper\.hosts: expected a list or a comma-separated string/);
  });
});

describe('TLS', () => {
  it('refuses use_ssl: true with a clear DCS_CONFIG error that says why, and a way out', () => {
    const e = configError({ hosts: ['zk1'], use_ssl: true, cacert: '/etc/ssl/ca.pem' });
    expect(e.message).toMatch(/^zookeeper\.use_ssl: TLS is not supported/);
    expect(e.message).toContain('opens every connection with zookeeper_init(), which is plain TCP');
    expect(e.message).toContain('never calls it');
    expect(e.hint).toMatch(/use_ssl: false/);
  });

  it('accepts use_ssl: false, and warns that TLS files given without it are ignored', () => {
    const logger = recordingLogger();
    parseZooKeeperSection({ hosts: ['zk1'], use_ssl: false, cert: '/c.pem', key: '/k.pem', verify: true }, logger);
    const warning = logger.lines.find((l) => l.level === 'warn');
    expect(warning?.msg).toMatch(/TLS settings are ignored/);
    expect(warning?.obj).toEqual({ keys: ['zookeeper.cert', 'zookeeper.key', 'zookeeper.verify'] });
    expect(configError({ hosts: ['zk1'], use_ssl: 'maybe' }).message).toMatch(/^zookeeper\.use_ssl: expected true or false/);
    expect(configError({ hosts: ['zk1'], cacert: 5 }).message).toMatch(/^zookeeper\.cacert: expected a string/);
  });
});

describe('zookeeper.set_acls', () => {
  const auth = { digest: 'pgha:secret' };
  const pgha = digestId('pgha:secret');

  it('reads principals written with their scheme, as ZooKeeper (and Patroni since #3479) write them', () => {
    const s = parseZooKeeperSection(
      {
        hosts: ['zk1'],
        auth_data: auth,
        set_acls: { [`digest:${pgha}`]: ['ALL'], 'world:anyone': ['read'], 'ip:10.0.0.0/8': ['READ', 'WRITE'], 'sasl:zkadmin': ['ADMIN'], 'auth:': ['create', 'delete'] },
      },
      silentLogger,
    );
    expect(s.acl).toEqual([
      { scheme: 'digest', id: pgha, perms: 31 },
      { scheme: 'world', id: 'anyone', perms: 1 },
      { scheme: 'ip', id: '10.0.0.0/8', perms: 3 },
      { scheme: 'sasl', id: 'zkadmin', perms: 16 },
      { scheme: 'auth', id: '', perms: 12 },
    ]);
    // What `printf %s pgha:secret | openssl dgst -binary -sha1 | base64` gives (and ZooKeeper's DigestAuthenticationProvider).
    expect(pgha).toBe('pgha:fqkeIqlVcR0kwW9bybYDS16+lWA=');
    expect(parseZooKeeperSection({ hosts: ['zk1'], set_acls: {} }, silentLogger).acl).toEqual([]);
    expect(parseZooKeeperSection({ hosts: ['zk1'] }, silentLogger).acl).toEqual([]);
  });

  it("refuses an x509 principal (Patroni's meaning of a key without a scheme) because TLS is impossible", () => {
    const plain = configError({ hosts: ['zk1'], set_acls: { 'CN=pgha': ['ALL'] } });
    expect(plain.message).toMatch(/^zookeeper\.set_acls\.CN=pgha: a principal without a scheme is an x509 certificate name/);
    expect(plain.message).toContain('only a TLS client certificate');
    expect(plain.message).toContain('zookeeper_init()');
    expect(plain.hint).toMatch(/digest:<user>:/);
    // A colon after something that is not a scheme name keeps it an x509 name.
    expect(configError({ hosts: ['zk1'], set_acls: { 'CN=a:b,O=c': ['ALL'] } }).message).toMatch(/^zookeeper\.set_acls\.CN=a:b,O=c: a principal without a scheme/);
    expect(configError({ hosts: ['zk1'], set_acls: { 'x509:CN=pgha': ['ALL'] } }).message).toMatch(/^zookeeper\.set_acls\.x509:CN=pgha: an x509 principal/);
  });

  it('names the principal of a malformed entry', () => {
    const acl = (set_acls: unknown, extra: Record<string, unknown> = {}) => configError({ hosts: ['zk1'], auth_data: auth, set_acls, ...extra }).message;
    expect(acl({ [`digest:${pgha}`]: ['FLY'] })).toMatch(new RegExp(`^zookeeper\\.set_acls\\.digest:pgha:\\S+: "FLY" is not a permission`));
    expect(acl({ [`digest:${pgha}`]: [] })).toMatch(/lists no permission/);
    expect(acl({ [`digest:${pgha}`]: 'ALL' })).toMatch(/expected a list of CREATE, READ, WRITE, DELETE, ADMIN, ALL/);
    expect(acl(['ALL'])).toMatch(/^zookeeper\.set_acls: expected a mapping/);
    expect(acl({ 'digest:pgha:secret': ['ALL'] })).toMatch(/^zookeeper\.set_acls\.digest:pgha:secret: a digest principal is digest:<user>:<hash>.*not the password/);
    expect(acl({ 'world:everyone': ['READ'] })).toMatch(/^zookeeper\.set_acls\.world:everyone: the world scheme has one id, "anyone"/);
    expect(acl({ 'ip:db-1': ['READ'] })).toMatch(/^zookeeper\.set_acls\.ip:db-1: "db-1" is not an IP address/);
    expect(configError({ hosts: ['zk1'], set_acls: { 'auth:': ['ALL'] } }).message).toMatch(/^zookeeper\.set_acls\.auth:: the auth scheme grants the ids the session authenticated as, and auth_data gives none/);
  });

  it('refuses an ACL that would lock pgha out of the znodes it creates', () => {
    // The digest of another user, or ours without the permissions pgha needs.
    const other = configError({ hosts: ['zk1'], auth_data: auth, set_acls: { [`digest:${digestId('admin:x')}`]: ['ALL'] } });
    expect(other.message).toMatch(/^zookeeper\.set_acls: no entry grants pgha, as the digest user of auth_data \(pgha\), READ, WRITE, CREATE, DELETE/);
    const readOnly = configError({ hosts: ['zk1'], auth_data: auth, set_acls: { [`digest:${pgha}`]: ['READ', 'ADMIN'], 'world:anyone': ['CREATE'] } });
    expect(readOnly.message).toMatch(/grants pgha, as the digest user of auth_data \(pgha\), WRITE, DELETE:/);
    // Without auth_data, only world:anyone can grant pgha anything.
    expect(configError({ hosts: ['zk1'], set_acls: { [`digest:${pgha}`]: ['ALL'] } }).message).toMatch(/as an unauthenticated session \(no digest in auth_data\)/);
    // auth: grants whatever pgha authenticated as.
    expect(parseZooKeeperSection({ hosts: ['zk1'], auth_data: auth, set_acls: { 'auth:': ['ALL'] } }, silentLogger).acl).toEqual([{ scheme: 'auth', id: '', perms: 31 }]);
  });

  it('only warns when pgha\'s access depends on entries the server alone can match (ip, custom schemes)', () => {
    const logger = recordingLogger();
    const s = parseZooKeeperSection({ hosts: ['zk1'], set_acls: { 'ip:127.0.0.1': ['ALL'], 'world:anyone': ['READ'] } }, logger);
    expect(s.acl).toHaveLength(2);
    expect(logger.lines).toContainEqual(
      expect.objectContaining({ level: 'warn', obj: { key: 'zookeeper.set_acls', relyingOn: ['ip:127.0.0.1'] }, msg: expect.stringMatching(/WRITE, CREATE, DELETE.*unless the entries it relies on match it$/) }),
    );
  });
});

describe('auth_data and unknown keys', () => {
  it('turns auth_data into add_auth credentials', () => {
    expect(parseZooKeeperSection({ hosts: ['zk1'], auth_data: { digest: 'pgha:secret' } }, silentLogger).auth).toEqual([['digest', 'pgha:secret']]);
    expect(configError({ hosts: ['zk1'], auth_data: { digest: 7 } }).message).toMatch(/^zookeeper\.auth_data\.digest: expected a non-empty credential/);
    expect(configError({ hosts: ['zk1'], auth_data: 'digest:pgha' }).message).toMatch(/^zookeeper\.auth_data: expected a mapping/);
  });

  it('warns about unknown keys instead of failing', () => {
    const logger = recordingLogger();
    parseZooKeeperSection({ hosts: ['zk1'], connect_timeout: 3 }, logger);
    expect(logger.lines).toContainEqual(expect.objectContaining({ level: 'warn', obj: { keys: ['zookeeper.connect_timeout'] } }));
  });

  it('makes createDriver fail with DCS_CONFIG before starting anything', async () => {
    const error = await Promise.resolve()
      .then(() =>
        createDriver({
          namespace: '/service',
          scope: 'batman',
          name: 'pg0',
          ttl: 30,
          loopWait: 10,
          retryTimeout: 10,
          section: { hosts: ['127.0.0.1:2181'], use_ssl: true },
          clock: systemClock,
          logger: silentLogger,
        }),
      )
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(isDcsError(error, DcsErrorCode.Config)).toBe(true);
    expect(String(error)).toContain('zookeeper.use_ssl');
  });
});
