// The `zookeeper:` section: what is accepted, and how a bad value is reported (no server needed).
import { describe, expect, it } from 'vitest';
import { DcsErrorCode, isDcsError, silentLogger, systemClock } from '@pgha/dcs';
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

describe('TLS and ACLs', () => {
  it('refuses use_ssl: true with a clear DCS_CONFIG error and a way out', () => {
    const e = configError({ hosts: ['zk1'], use_ssl: true, cacert: '/etc/ssl/ca.pem' });
    expect(e.message).toMatch(/^zookeeper\.use_ssl: TLS is not supported/);
    expect(e.message).toContain('native ZooKeeper client');
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

  it('refuses set_acls (x509 ACLs need TLS), and names a malformed entry', () => {
    expect(configError({ hosts: ['zk1'], set_acls: { 'CN=pgha': ['ALL'] } }).message).toMatch(/^zookeeper\.set_acls: x509 ACLs need TLS/);
    expect(configError({ hosts: ['zk1'], set_acls: { 'CN=pgha': ['FLY'] } }).message).toMatch(/^zookeeper\.set_acls\.CN=pgha: expected a list of/);
    expect(configError({ hosts: ['zk1'], set_acls: ['ALL'] }).message).toMatch(/^zookeeper\.set_acls: expected a mapping/);
    expect(parseZooKeeperSection({ hosts: ['zk1'], set_acls: {} }, silentLogger).hosts).toEqual(['zk1:2181']);
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
