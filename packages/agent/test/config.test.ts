import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyEnvironment, EnvironmentError } from '../src/config/environment.js';
import { readConfigSource, ConfigSourceError } from '../src/config/source.js';
import { ConfigValidationError, validateAgentConfig } from '../src/config/schema.js';

// The seed manual's postgresmq.yml, in the shape Patroni 1.4 users wrote it.
const SEED_YAML = `
scope: batman5
namespace: /service/
name: postgresql0

restapi:
  listen: 0.0.0.0:8008
  connect_address: 192.168.1.143:8008

zookeeper:
  hosts: ['192.168.1.141:2181', '192.168.1.142:2181', '192.168.1.143:2181']

bootstrap:
  dcs:
    ttl: 30
    loop_wait: 10
    retry_timeout: 10
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      parameters:
        wal_level: logical
        max_connections: 100
  initdb:
  - encoding: UTF8
  - data-checksums
  pg_hba:
  - host replication replicator 0.0.0.0/0 md5
  - host all all 0.0.0.0/0 md5
  users:
    admin:
      password: admin
      options:
        - createrole
        - createdb

postgresql:
  listen: 0.0.0.0:5433
  connect_address: 192.168.1.143:5433
  data_dir: /home/postgres/flyingdb-v3-logical/data
  pgpass: /tmp/pgpass0
  authentication:
    replication:
      username: replicator
      password: rep-pass
    superuser:
      username: postgres
      password: zalando
  parameters:
    unix_socket_directories: '/tmp'

watchdog:
  mode: required
  device: /dev/watchdog
  safety_margin: 5

tags:
    nofailover: false
    noloadbalance: false
    clonefrom: false
    nosync: false
`;

async function tempFile(name: string, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgha-config-'));
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe('configuration', () => {
  it("reads the seed manual's Patroni YAML unchanged", async () => {
    const raw = await readConfigSource(await tempFile('postgresmq.yml', SEED_YAML));
    const { config, warnings } = validateAgentConfig(raw);
    expect(config.scope).toBe('batman5');
    expect(config.name).toBe('postgresql0');
    expect(config.restapi.listen).toBe('0.0.0.0:8008');
    expect(config.postgresql.data_dir).toBe('/home/postgres/flyingdb-v3-logical/data');
    expect(config.watchdog?.mode).toBe('required');
    expect(config.tags['nofailover']).toBe(false);
    expect(warnings).toEqual([]);
  });

  it('names every invalid key path at once', () => {
    const raw = { scope: 'x', name: 'n', restapi: { listen: 'no-port' }, postgresql: { listen: 5432 } };
    try {
      validateAgentConfig(raw);
      expect.unreachable('validation should fail');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigValidationError);
      const problems = (e as ConfigValidationError).problems.join('\n');
      expect(problems).toContain('restapi.listen: expected host:port');
      expect(problems).toMatch(/postgresql\.listen: /);
      expect(problems).toMatch(/postgresql\.data_dir: /);
    }
  });

  it('validates bootstrap.dcs.maximum_lag_on_failover: bytes or a replay time', () => {
    const base = { scope: 'x', name: 'n', restapi: { listen: ':8008' }, postgresql: { listen: ':5432', data_dir: '/d' } };
    for (const ok of [1048576, '1048576', '10s', '500ms', '2min']) {
      expect(validateAgentConfig({ ...base, bootstrap: { dcs: { maximum_lag_on_failover: ok } } }).config.scope).toBe('x');
    }
    for (const [bad, why] of [['10 parsecs', /got "10 parsecs"$/], [-5, /must not be negative/], ['-10s', /must not be negative/]] as const) {
      try {
        validateAgentConfig({ ...base, bootstrap: { dcs: { maximum_lag_on_failover: bad } } });
        expect.unreachable(`${String(bad)} should be rejected`);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigValidationError);
        const [problem] = (e as ConfigValidationError).problems;
        expect(problem).toMatch(/^bootstrap\.dcs\.maximum_lag_on_failover: expected a number of bytes or a duration/);
        expect(problem).toMatch(why);
      }
    }
  });

  it('refuses restapi extra headers HTTP cannot carry (CR, LF, non-Latin-1, a bad name), naming the header (issue #15)', () => {
    const base = { scope: 'x', name: 'n', postgresql: { listen: ':5432', data_dir: '/d' } };
    const problemsOf = (restapi: Record<string, unknown>): string[] => {
      try {
        validateAgentConfig({ ...base, restapi: { listen: ':8008', ...restapi } });
        return [];
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigValidationError);
        return (e as ConfigValidationError).problems;
      }
    };
    // YAML's `|` keeps the final newline: `X-Frame-Options: |\n  DENY` is "DENY\n".
    const header = 'the value contains CR, LF or a character HTTP headers cannot carry (only tab, printable ASCII and Latin-1)';
    expect(problemsOf({ http_extra_headers: { 'X-Frame-Options': 'DENY\n' } })).toEqual([`restapi.http_extra_headers.X-Frame-Options: ${header}`]);
    expect(problemsOf({ https_extra_headers: { 'X-A': 'a\r\nSet-Cookie: x=1' } })).toEqual([`restapi.https_extra_headers.X-A: ${header}`]);
    expect(problemsOf({ http_extra_headers: { 'X-Snow': '\u2603' } })).toEqual([`restapi.http_extra_headers.X-Snow: ${header}`]);
    expect(problemsOf({ http_extra_headers: { 'Bad Name': 'v' } })).toEqual(['restapi.http_extra_headers.Bad Name: "Bad Name" is not a valid HTTP header name']);
    // What HTTP allows passes: tabs, Latin-1, Patroni's usual security headers.
    expect(problemsOf({ http_extra_headers: { 'Strict-Transport-Security': 'max-age=31536000; includeSubDomains', 'X-Note': 'caf\u00e9\tok' } })).toEqual([]);
  });

  it("validates restapi.server_tokens: Patroni 4.1's values in any case, else an error naming the key (issue 16)", () => {
    const base = { scope: 'x', name: 'n', postgresql: { listen: ':5432', data_dir: '/d' } };
    const parse = (server_tokens: unknown) => validateAgentConfig({ ...base, restapi: { listen: ':8008', server_tokens } });
    expect(parse('Minimal').config.restapi.server_tokens).toBe('minimal');
    expect(parse('ProductOnly').config.restapi.server_tokens).toBe('productonly');
    expect(parse('original').config.restapi.server_tokens).toBe('original');
    expect(parse('original').warnings).toEqual([]);
    // Patroni's PATRONI_RESTAPI_SERVER_TOKENS too.
    const fromEnv = applyEnvironment({ ...base, restapi: { listen: ':8008' } }, { PATRONI_RESTAPI_SERVER_TOKENS: 'Minimal' }).config;
    expect(validateAgentConfig(fromEnv).config.restapi.server_tokens).toBe('minimal');
    for (const bad of ['foobar', 'prod', 1]) {
      expect(() => parse(bad)).toThrow(ConfigValidationError);
    }
    try {
      parse('foobar');
    } catch (e) {
      expect((e as ConfigValidationError).problems).toEqual(['restapi.server_tokens: expected original, productonly, minimal (in any case), got "foobar"']);
    }
  });

  it('reads patroni_compatibility: 3, 4 (numbers or text) or auto/absent (detect), else an error naming the key (issue #17)', () => {
    const base = { scope: 'x', name: 'n', restapi: { listen: ':8008' }, postgresql: { listen: ':5432', data_dir: '/d' } };
    const parse = (patroni_compatibility: unknown) => validateAgentConfig({ ...base, patroni_compatibility }).config.patroni_compatibility;
    expect([parse(3), parse(4), parse('3'), parse(' 4 '), parse('auto'), parse('Auto'), parse(undefined)]).toEqual([3, 4, 3, 4, null, null, undefined]);
    expect(validateAgentConfig({ ...base, patroni_compatibility: 4 }).warnings).toEqual([]);
    const problems = (v: unknown): string[] => {
      try {
        parse(v);
        return [];
      } catch (e) {
        return (e as ConfigValidationError).problems;
      }
    };
    for (const bad of [2, 5, '4.1', 'primary', true]) expect([bad, problems(bad)]).toEqual([bad, ['patroni_compatibility: expected 3, 4 or auto']]);
  });

  it('reports unknown sections as warnings instead of failing', () => {
    const raw = { scope: 'x', name: 'n', restapi: { listen: ':8008' }, postgresql: { listen: ':5432', data_dir: '/d' }, frobnicate: {} };
    expect(validateAgentConfig(raw).warnings).toEqual(['frobnicate: unknown section, ignored']);
  });

  // pgha issue 15: a typo inside a section (restapi.authentification) used to leave the API open silently.
  it('warns about unknown keys inside the sections whose keys are all known, naming the key path', () => {
    const raw = {
      scope: 'x',
      name: 'n',
      restapi: { listen: ':8008', authentification: { username: 'a', password: 'b' }, verify_clients: 'required', authentication: { username: 'a', password: 'b', pasword: 'c' } },
      ctl: { insecure: true, cacertfile: '/x' },
      watchdog: { mode: 'off', saftey_margin: 5 },
      postgresql: { listen: ':5432', data_dir: '/d', authentication: { superuser: { username: 'p', passwrd: 'x' }, replicaton: {} }, my_method: { command: 'x' } },
      bootstrap: { my_method: { command: 'x' } },
    };
    expect(validateAgentConfig(raw).warnings).toEqual([
      'restapi.authentification: unknown key, ignored',
      'restapi.verify_clients: unknown key, ignored',
      'restapi.authentication.pasword: unknown key, ignored',
      'ctl.cacertfile: unknown key, ignored',
      'watchdog.saftey_margin: unknown key, ignored',
      'postgresql.authentication.replicaton: unknown key, ignored',
      'postgresql.authentication.superuser.passwrd: unknown key, ignored',
    ]);
  });

  it('refuses bootstrap.dcs timing values out of range and a bad safety_margin, naming the key path', () => {
    const base = { scope: 'x', name: 'n', restapi: { listen: ':8008' }, postgresql: { listen: ':5432', data_dir: '/d' } };
    const problems = (extra: Record<string, unknown>): string[] => {
      try {
        validateAgentConfig({ ...base, ...extra });
        return [];
      } catch (e) {
        return (e as ConfigValidationError).problems;
      }
    };
    expect(problems({ bootstrap: { dcs: { ttl: 1e7 } } })).toEqual(['bootstrap.dcs.ttl: must be between 4 and 86400 seconds, got 10000000']);
    expect(problems({ bootstrap: { dcs: { retry_timeout: 0.01 } } })).toEqual(['bootstrap.dcs.retry_timeout: must be between 1 and 3600 seconds, got 0.01']);
    expect(problems({ bootstrap: { dcs: { postgresql: { pg_hba: 'host all all 0.0.0.0/0 trust' } } } })).toEqual(['bootstrap.dcs.postgresql.pg_hba: expected a list of strings']);
    expect(problems({ watchdog: { safety_margin: 1e7 } })).toEqual(['watchdog.safety_margin: expected -1 or seconds between 0 and 3600']);
    expect(problems({ bootstrap: { dcs: { ttl: 4, loop_wait: 1, retry_timeout: 1 } }, watchdog: { safety_margin: -1 } })).toEqual([]);
  });

  // pgha issue 16: a command in bootstrap.dcs goes to the DCS, where this member would ignore it.
  it('refuses a command in bootstrap.dcs unless postgresql.allow_dcs_commands is true, naming the key path and the switch', () => {
    const base = { scope: 'x', name: 'n', restapi: { listen: ':8008' } };
    const dcs = { ttl: 30, postgresql: { parameters: { archive_mode: 'on', archive_command: 'wal-g wal-push %p' } }, standby_cluster: { host: 'remote', restore_command: 'wal-g wal-fetch %f %p' } };
    const problems = (postgresql: Record<string, unknown>): string[] => {
      try {
        validateAgentConfig({ ...base, postgresql: { listen: ':5432', data_dir: '/d', ...postgresql }, bootstrap: { dcs } });
        return [];
      } catch (e) {
        return (e as ConfigValidationError).problems;
      }
    };
    expect(problems({})).toEqual([
      'bootstrap.dcs.postgresql.parameters.archive_command: PostgreSQL would run it as a shell command on every member; commands are not accepted in the dynamic configuration unless the local YAML sets postgresql.allow_dcs_commands: true (or set it locally, in postgresql.parameters.archive_command)',
    ]);
    expect(problems({ allow_dcs_commands: 'off' })).toHaveLength(1);
    expect(problems({ allow_dcs_commands: true })).toEqual([]);
    expect(problems({ allow_dcs_commands: 'on' })).toEqual([]);
    expect(validateAgentConfig({ ...base, postgresql: { listen: ':5432', data_dir: '/d', allow_dcs_commands: 'yes' } }).config.postgresql.allow_dcs_commands).toBe(true);
    expect(problems({ allow_dcs_commands: 'sometimes' })).toEqual(['postgresql.allow_dcs_commands: Invalid input: expected boolean, received string']);
  });

  it('merges a configuration directory in name order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pgha-confdir-'));
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, '10-base.yml'), 'scope: a\npostgresql:\n  listen: ":5432"\n  parameters: {work_mem: 1MB, a: 1}\n');
    await writeFile(join(dir, '20-local.yaml'), 'scope: b\npostgresql:\n  parameters: {work_mem: 4MB}\n');
    await writeFile(join(dir, 'notes.txt'), 'not yaml: [');
    expect(await readConfigSource(dir)).toEqual({ scope: 'b', postgresql: { listen: ':5432', parameters: { work_mem: '4MB', a: 1 } } });
  });

  it('rejects unreadable and malformed files with the file name', async () => {
    await expect(readConfigSource('/nonexistent/pgha.yml')).rejects.toThrow(/\/nonexistent\/pgha.yml: cannot read/);
    const bad = await tempFile('bad.yml', 'scope: [unclosed\n');
    await expect(readConfigSource(bad)).rejects.toBeInstanceOf(ConfigSourceError);
    const list = await tempFile('list.yml', '- a\n- b\n');
    await expect(readConfigSource(list)).rejects.toThrow(/top level must be a map/);
  });

  it('applies PATRONI_* variables, with PGHA_* winning, lists in YAML flow syntax', () => {
    const { config, applied } = applyEnvironment(
      { scope: 'file', postgresql: { listen: ':5432' } },
      {
        PATRONI_SCOPE: 'env',
        PATRONI_NAME: 'pg9',
        PGHA_NAME: 'pg10',
        PATRONI_ZOOKEEPER_HOSTS: "'h1:2181','h2:2181'",
        PATRONI_ETCD3_HOSTS: '[a:2379, b:2379]',
        PATRONI_REPLICATION_PASSWORD: 's3cret',
        PATRONI_RESTAPI_ALLOWLIST_INCLUDE_MEMBERS: 'on',
        PATRONI_LOGLEVEL: 'DEBUG',
        PATRONI_POSTGRESQL_BIN_PG_CTL: 'my_pg_ctl',
        PATRONI_UNRELATED_THING: 'x',
      },
    );
    expect(config).toMatchObject({
      scope: 'env',
      name: 'pg10',
      zookeeper: { hosts: ['h1:2181', 'h2:2181'] },
      etcd3: { hosts: ['a:2379', 'b:2379'] },
      postgresql: { listen: ':5432', authentication: { replication: { password: 's3cret' } }, bin_name: { pg_ctl: 'my_pg_ctl' } },
      restapi: { allowlist_include_members: true },
      log: { level: 'DEBUG' },
    });
    expect(applied).not.toContain('PATRONI_UNRELATED_THING');
    expect(() => applyEnvironment({}, { PATRONI_RESTAPI_REQUEST_QUEUE_SIZE: 'many' })).toThrow(EnvironmentError);
  });
});
