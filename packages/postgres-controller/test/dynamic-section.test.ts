// pgha issue 15 (security review H6): the DCS `postgresql` section reaches postgresql.conf,
// pg_hba.conf and pg_ident.conf on every member, so nothing in it may break those files.
import { describe, expect, it } from 'vitest';
import { renderLinesFile, renderPostgresqlConf } from '../src/config-files.js';
import { postgresqlSectionSchema } from '../src/config.js';
import { sanitizeDynamicPostgresql } from '../src/dynamic-section.js';
import { effectiveParameters } from '../src/parameters.js';

describe('sanitizeDynamicPostgresql', () => {
  it('drops a parameter whose name or value would inject lines, keeping the valid rest (Patroni: "Removing unexpected parameter")', () => {
    const { value, warnings } = sanitizeDynamicPostgresql({
      use_pg_rewind: 'on',
      parameters: { work_mem: '8MB', "x = 1\ninclude '/tmp/evil'": 'on', shared_buffers: "16MB'\narchive_command = 'evil", 'pg_stat_statements.max': 1000, bad: { nested: true } },
      recovery_conf: { restore_command: 'cp %p\n%f' },
    });
    expect(value).toEqual({ use_pg_rewind: true, parameters: { work_mem: '8MB', 'pg_stat_statements.max': 1000 }, recovery_conf: {} });
    expect(warnings).toEqual([
      'Removing unexpected parameter="x = 1\\ninclude \'/tmp/evil\'" value="on" from config.postgresql.parameters: not a valid parameter name',
      'Removing unexpected parameter="shared_buffers" value="16MB\'\\narchive_command = \'evil" from config.postgresql.parameters: a value must not contain a line break or NUL',
      'Removing unexpected parameter="bad" value={"nested":true} from config.postgresql.parameters: expected a string, number or boolean',
      'Removing unexpected parameter="restore_command" value="cp %p\\n%f" from config.postgresql.recovery_conf: a value must not contain a line break or NUL',
    ]);
  });

  it('ignores a pg_hba or pg_ident that is not a list of single lines, keeping the last good one', () => {
    const lastGood = { pg_hba: ['local all all trust'], pg_ident: ['map a b'] };
    const { value, warnings } = sanitizeDynamicPostgresql({ pg_hba: 'host all all 0.0.0.0/0 trust', pg_ident: ['m x y\nm z w'] }, lastGood);
    expect(value).toEqual(lastGood);
    expect(warnings).toEqual([
      'config.postgresql.pg_hba: expected a list of lines, got "host all all 0.0.0.0/0 trust"; ignored, keeping the last good value',
      'config.postgresql.pg_ident: a line contains a line break or NUL; ignored, keeping the last good value',
    ]);
    expect(sanitizeDynamicPostgresql({ pg_hba: 'host all all 0.0.0.0/0 trust' }).value).toEqual({});
  });

  it('never throws, whatever the section holds', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    for (const v of ['text', 42, [], deep, { parameters: deep, pg_hba: deep, use_slots: deep }]) {
      expect(() => sanitizeDynamicPostgresql(v, { pg_hba: ['local all all trust'] })).not.toThrow();
    }
    expect(sanitizeDynamicPostgresql('text', { pg_hba: ['local all all trust'] }).value).toEqual({ pg_hba: ['local all all trust'] });
  });
});

describe('postgresql.conf and pg_hba.conf never get a line that is not one entry', () => {
  it('effectiveParameters drops unsafe names and values from either layer, with a warning', () => {
    const p = effectiveParameters({
      serverVersion: 150004,
      listenAddresses: '127.0.0.1',
      port: 5433,
      clusterName: 'c',
      dynamic: { 'a\nb': 'x', work_mem: '4MB' },
      local: { shared_buffers: "1GB'\ninclude 'x" },
    });
    expect(p.file.has('a\nb')).toBe(false);
    expect(p.file.has('shared_buffers')).toBe(false);
    expect(p.file.get('work_mem')).toBe('4MB');
    expect(p.warnings.filter((w) => w.startsWith('Removing unexpected parameter'))).toHaveLength(2);
  });

  it('the renderers skip what slipped through', () => {
    const conf = renderPostgresqlConf({ include: 'postgresql.base.conf', parameters: new Map([['work_mem', '4MB'], ['evil\ninclude', 'x'], ['shared_buffers', "1\narchive_command = 'x'"]]) });
    expect(conf.split('\n').filter((l) => l.includes('='))).toEqual(["work_mem = '4MB'"]);
    expect(renderLinesFile(['local all all trust', 'host all all 0.0.0.0/0 trust\nhost all all ::/0 trust'])).not.toContain('::/0');
  });

  it('the YAML refuses such parameters with the key path', () => {
    const r = postgresqlSectionSchema.safeParse({ listen: ':5432', data_dir: '/d', parameters: { 'a\nb': 1, work_mem: 'x\ny' } });
    expect(r.success).toBe(false);
    // zod names a bad record key "Invalid key in record"; the path shows which key.
    expect(r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual(['parameters.a\nb: Invalid key in record', 'parameters.work_mem: a value must not contain a line break or NUL']);
  });
});
