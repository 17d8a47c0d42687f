import { describe, expect, it } from 'vitest';
import { postgresqlSectionSchema } from '../src/index.js';
import { ControllerSettings } from '../src/settings.js';

const timeouts = { queryMs: 5000, hookMs: 60_000, callbackMs: 600_000, longMs: 3_600_000, adoptedPollMs: 100 };

function settings(postgresql: Record<string, unknown>, dynamic: Record<string, unknown> = {}) {
  return new ControllerSettings({
    name: 'pg1',
    scope: 'demo',
    postgresql: postgresqlSectionSchema.parse({ listen: '10.0.0.1,127.0.0.1:5433', data_dir: '/data/pg1', ...postgresql }),
    dynamic,
    timeouts,
    primaryRoleName: 'master',
  });
}

const source = { name: 'pg0', host: '10.0.0.2', port: 5432 };

describe('controller settings (no I/O)', () => {
  it('finds the programs in bin_dir, renamed by bin_name, and the files beside data_dir', () => {
    const s = settings({ bin_dir: '/usr/lib/postgresql/15/bin', bin_name: { pg_rewind: 'pg_rewind15', initdb: '/opt/initdb' }, pg_ctl_timeout: 30 });
    expect(s.binary('postgres')).toBe('/usr/lib/postgresql/15/bin/postgres');
    expect(s.binary('pg_rewind')).toBe('/usr/lib/postgresql/15/bin/pg_rewind15');
    expect(s.binary('initdb')).toBe('/opt/initdb');
    expect(s.confPath).toBe('/data/pg1/postgresql.conf');
    expect(s.pgpassPath).toBe('/data/pg1.pgha/pgpass');
    expect(s.pgCtlTimeoutMs).toBe(30_000);
  });

  it('connects to itself on the first listen address, or the socket directory', () => {
    expect(settings({}).localTarget()).toMatchObject({ host: '10.0.0.1', port: 5433, user: 'postgres', database: 'postgres' });
    const socket = settings({ use_unix_socket: true, parameters: { unix_socket_directories: '/run/pg, /tmp' } });
    expect(socket.localTarget().host).toBe('/run/pg');
  });

  it('writes conninfo without the password, and rewinds as the superuser when no rewind role is set', () => {
    const s = settings({ authentication: { superuser: { username: 'admin', password: 'su' }, replication: { username: 'repl', password: 'secret' } } });
    const conninfo = s.sourceConninfo(source, 'replication', { application_name: 'pg1' });
    expect(conninfo).toContain('user=repl');
    expect(conninfo).toContain('passfile=/data/pg1.pgha/pgpass');
    expect(conninfo).not.toContain('secret');
    expect(s.sourceTarget(source, 'rewind')).toMatchObject({ user: 'admin', replication: false });
    expect(s.sourceConninfo(source, 'rewind')).toContain('dbname=postgres');
  });

  it('streams with the slot the caller names (none when it names none), and with the remote slot for a standby cluster', () => {
    expect(settings({}).standbySettings({ ...source, slotName: 'pg1' })).toMatchObject({ primarySlotName: 'pg1' });
    // The engine leaves the slot out when use_slots is off; the controller does not second-guess it.
    expect(settings({}).standbySettings(source).primarySlotName).toBeUndefined();
    const remote = { ...source, remote: { slotName: 'standby', recoveryConf: { recovery_min_apply_delay: '5min' } } };
    expect(settings({}).standbySettings(remote)).toMatchObject({ primarySlotName: 'standby', recoveryConf: { recovery_min_apply_delay: '5min' } });
    expect(settings({}).standbySettings({ ...source, noStream: true }).primaryConninfo).toBeUndefined();
  });

  it('puts the trust line first only while a custom bootstrap needs it', () => {
    const s = settings({ pg_hba: ['host all all 0.0.0.0/0 scram-sha-256'] });
    expect(s.hbaLines()).toEqual(['host all all 0.0.0.0/0 scram-sha-256']);
    s.trustLocalSuperuser = true;
    expect(s.hbaLines()).toEqual(['host all "postgres" 10.0.0.1/32 trust', 'host all all 0.0.0.0/0 scram-sha-256']);
  });

  it('names the roles callbacks see', () => {
    const s = settings({});
    expect(s.roleForCallbacks('primary', null)).toBe('master');
    expect(s.roleForCallbacks('replica', source)).toBe('replica');
    expect(s.roleForCallbacks('replica', { ...source, remote: { slotName: null, recoveryConf: {} } })).toBe('standby_leader');
  });

  it("asks for the primary's name at each callback when given a function (the agent follows its cluster's Patroni names)", () => {
    let name = 'master';
    const s = new ControllerSettings({
      name: 'pg1',
      scope: 'demo',
      postgresql: postgresqlSectionSchema.parse({ listen: '127.0.0.1:5432', data_dir: '/data/pg1' }),
      timeouts,
      primaryRoleName: () => name,
    });
    expect(s.roleForCallbacks('primary', null)).toBe('master');
    name = 'primary';
    expect(s.roleForCallbacks('primary', null)).toBe('primary');
    expect(s.roleForCallbacks('replica', null)).toBe('replica');
  });
});
