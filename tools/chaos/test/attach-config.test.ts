import { describe, expect, it } from 'vitest';
import { AttachConfigError, fillCommand, parseAttachConfig } from '../src/attach.js';
import { missingActions } from '../src/faults.js';
import { runnableFaults } from '../src/harness.js';

const GOOD = `
members:
  - name: pg0
    api: http://10.0.0.1:8008
    dsn: postgresql://postgres:secret@10.0.0.1:5432/postgres
    vars: { host: db1 }
  - name: pg1
    api: http://10.0.0.2:8008/
    dsn: postgresql://postgres:secret@10.0.0.2:5432/postgres
    vars: { host: db2 }
commands:
  kill_postmaster: ssh {host} sudo pkill -9 -f 'postgres -D /var/lib/pg/{member}'
  stop_agent: ssh {host} sudo systemctl kill -s STOP pgha
  cont_agent: ssh {host} sudo systemctl kill -s CONT pgha
`;

const errorOf = (text: string): string => {
  try {
    parseAttachConfig(text, 'cluster.yml');
  } catch (e) {
    expect(e).toBeInstanceOf(AttachConfigError);
    expect((e as AttachConfigError).code).toBe('CHAOS_ATTACH_CONFIG');
    return (e as Error).message;
  }
  throw new Error('expected an error');
};

describe('attach file', () => {
  it('reads members, vars and commands, from YAML or JSON', () => {
    const config = parseAttachConfig(GOOD, 'cluster.yml');
    expect(config.members).toEqual([
      { name: 'pg0', api: 'http://10.0.0.1:8008', dsn: 'postgresql://postgres:secret@10.0.0.1:5432/postgres', vars: { host: 'db1' } },
      { name: 'pg1', api: 'http://10.0.0.2:8008', dsn: 'postgresql://postgres:secret@10.0.0.2:5432/postgres', vars: { host: 'db2' } },
    ]);
    expect(Object.keys(config.commands)).toEqual(['kill_postmaster', 'stop_agent', 'cont_agent']);
    const json = JSON.stringify({ members: config.members, commands: { kill_agent: 'kill -9 {pid}' } });
    expect(parseAttachConfig(json, 'cluster.json').commands).toEqual({ kill_agent: 'kill -9 {pid}' });
  });

  it('fills placeholders and refuses an unknown one', () => {
    const config = parseAttachConfig(GOOD, 'cluster.yml');
    expect(fillCommand(config.commands.kill_postmaster!, config.members[1]!)).toBe("ssh db2 sudo pkill -9 -f 'postgres -D /var/lib/pg/pg1'");
    expect(() => fillCommand('kill {pid}', config.members[0]!)).toThrow('no value for {pid} on pg0');
  });

  it('names the key of a bad value', () => {
    expect(errorOf('members: [')).toMatch(/^cluster\.yml: \(file\): not valid YAML or JSON/);
    expect(errorOf('- a\n- b')).toBe('cluster.yml: (file): expected a mapping with members and commands');
    expect(errorOf(GOOD.replace('commands:', 'comands:'))).toBe('cluster.yml: comands: unknown key (expected members, commands)');
    expect(errorOf('members:\n  - { name: pg0, api: http://a:1, dsn: postgresql://x }')).toBe('cluster.yml: members: expected a list of at least 2 members');
    expect(errorOf(GOOD.replace('http://10.0.0.2:8008/', '10.0.0.2:8008'))).toBe('cluster.yml: members[1].api: expected the REST API base URL, e.g. http://10.0.0.1:8008');
    expect(errorOf(GOOD.replace('postgresql://postgres:secret@10.0.0.1', 'host=10.0.0.1'))).toBe('cluster.yml: members[0].dsn: expected a postgresql:// connection URI of a superuser');
    expect(errorOf(GOOD.replace('name: pg1', 'name: pg0'))).toBe('cluster.yml: members[1].name: duplicate member "pg0"');
    expect(errorOf(GOOD.replace('    vars: { host: db2 }', '    port: 5432'))).toBe('cluster.yml: members[1].port: unknown key (expected name, api, dsn, vars)');
    expect(errorOf(GOOD.replace('stop_agent:', 'freeze_agent:'))).toMatch(/^cluster\.yml: commands\.freeze_agent: unknown action \(expected one of kill_agent, /);
    expect(errorOf(GOOD.replace("cont_agent: ssh {host} sudo systemctl kill -s CONT pgha", "cont_agent: ''"))).toBe('cluster.yml: commands.cont_agent: expected a shell command');
  });

  it('runs only the faults whose actions all have commands', () => {
    const skipped: string[] = [];
    const actions = { killPostmaster: async () => {}, stopAgent: async () => {}, contAgent: async () => {}, killAgent: async () => {} };
    expect(runnableFaults(['postmaster-kill', 'agent-freeze', 'node-crash', 'partition'], actions, (l) => skipped.push(l))).toEqual(['postmaster-kill', 'agent-freeze']);
    expect(missingActions('node-crash', actions)).toEqual(['startAgent']);
    expect(skipped).toEqual(['fault node-crash skipped: no startAgent for this cluster', 'fault partition skipped: no cutDcs, healDcs for this cluster']);
  });
});
