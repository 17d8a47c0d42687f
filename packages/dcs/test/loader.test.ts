import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DcsErrorCode, isDcsError, loadDriver } from '@pgha/dcs';
import type { DriverOptions, LoadDriverOptions, ModuleImporter } from '@pgha/dcs';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, 'fixtures');

/** An importer that serves modules from a table and records what it was asked for. */
function tableImporter(table: Record<string, unknown>): ModuleImporter & { asked: string[] } {
  const asked: string[] = [];
  const importer = async (specifier: string): Promise<unknown> => {
    asked.push(specifier);
    if (specifier in table) return table[specifier];
    throw new Error(`Cannot find package '${specifier}'`);
  };
  return Object.assign(importer, { asked });
}

const fakeFactory = (options: DriverOptions): unknown => ({ kind: 'fake', options });

async function loadError(options: LoadDriverOptions): Promise<{ code: string; message: string; hint: string | undefined }> {
  try {
    await loadDriver(options);
  } catch (e) {
    if (!isDcsError(e)) throw e;
    return { code: e.code, message: e.message, hint: e.hint };
  }
  throw new Error('expected loadDriver to fail');
}

describe('loadDriver: choosing the section', () => {
  it('maps etcd3: to @pgha/dcs-etcd and passes the settings', async () => {
    const importer = tableImporter({ '@pgha/dcs-etcd': { createDriver: fakeFactory, kind: 'etcd3' } });
    const loaded = await loadDriver({
      config: { scope: 'batman', name: 'pg0', etcd3: { hosts: ['127.0.0.1:2379'] }, restapi: { listen: ':8008' } },
      importers: [importer],
    });
    expect(importer.asked).toEqual(['@pgha/dcs-etcd']);
    expect(loaded).toMatchObject({ section: 'etcd3', specifier: '@pgha/dcs-etcd', kind: 'etcd3', settings: { hosts: ['127.0.0.1:2379'] } });
    expect(loaded.createDriver).toBe(fakeFactory);
  });

  it('maps zookeeper: to @pgha/dcs-zookeeper, taking the section name as kind when the module has none', async () => {
    const importer = tableImporter({ '@pgha/dcs-zookeeper': { createDriver: fakeFactory } });
    const loaded = await loadDriver({ config: { zookeeper: { hosts: ['127.0.0.1:2181'] } }, importers: [importer] });
    expect(loaded.kind).toBe('zookeeper');
    expect(loaded.specifier).toBe('@pgha/dcs-zookeeper');
  });

  it('takes an empty etcd3: section as no settings', async () => {
    const importer = tableImporter({ '@pgha/dcs-etcd': { createDriver: fakeFactory } });
    const loaded = await loadDriver({ config: { etcd3: null }, importers: [importer] });
    expect(loaded.settings).toEqual({});
  });

  it('ignores non-DCS sections that have a driver key (watchdog)', async () => {
    const importer = tableImporter({ '@pgha/dcs-etcd': { createDriver: fakeFactory } });
    const loaded = await loadDriver({ config: { watchdog: { driver: 'testing', mode: 'off' }, etcd3: {} }, importers: [importer] });
    expect(loaded.section).toBe('etcd3');
  });

  it('lets a driver: key replace a built-in driver', async () => {
    const importer = tableImporter({ 'my-etcd': { createDriver: fakeFactory } });
    const loaded = await loadDriver({ config: { etcd3: { driver: 'my-etcd', hosts: 'h:2379' } }, importers: [importer] });
    expect(loaded).toMatchObject({ section: 'etcd3', specifier: 'my-etcd', settings: { hosts: 'h:2379' } });
  });

  it('refuses Patroni stores pgha does not support, saying what to use', async () => {
    const cases: Record<string, RegExp> = {
      etcd: /etcd3:/,
      consul: /driver/,
      kubernetes: /driver/,
      raft: /etcd3:/,
      exhibitor: /zookeeper:/,
    };
    for (const [section, advice] of Object.entries(cases)) {
      const e = await loadError({ config: { [section]: { host: 'x' } }, importers: [tableImporter({})] });
      expect(e.code).toBe(DcsErrorCode.Config);
      expect(e.message).toContain(`pgha does not support Patroni's \`${section}:\` DCS`);
      expect(e.message).toMatch(advice);
      expect(e.hint).toMatch(advice);
    }
  });

  it('explains what it looked for when there is no DCS section', async () => {
    const e = await loadError({ config: { scope: 'batman', restapi: {}, postgresql: {} } });
    expect(e.code).toBe(DcsErrorCode.Config);
    expect(e.message).toContain('`etcd3:`');
    expect(e.message).toContain('`zookeeper:`');
    expect(e.message).toContain('`driver:`');
  });

  it('refuses two DCS sections, naming both', async () => {
    const e = await loadError({ config: { etcd3: {}, zookeeper: {} } });
    expect(e.code).toBe(DcsErrorCode.Config);
    expect(e.message).toContain('`etcd3:`');
    expect(e.message).toContain('`zookeeper:`');
    const e2 = await loadError({ config: { etcd3: {}, etcd: {} } });
    expect(e2.message).toMatch(/etcd3.*etcd|etcd.*etcd3/);
  });

  it('reports a malformed section or driver key with its path', async () => {
    expect(await loadError({ config: { etcd3: ['h:2379'] } })).toMatchObject({ code: 'DCS_CONFIG', message: expect.stringContaining('etcd3:') });
    expect(await loadError({ config: { consul: { driver: 5 } } })).toMatchObject({ code: 'DCS_CONFIG', message: expect.stringContaining('consul.driver') });
    expect(await loadError({ config: { consul: { driver: '  ' } } })).toMatchObject({ code: 'DCS_CONFIG' });
  });
});

describe('loadDriver: third-party plugins', () => {
  it('loads a plugin by relative path from base, with the default importer', async () => {
    const loaded = await loadDriver({
      config: { consul: { driver: './fixtures/named-driver.js', host: '127.0.0.1:8500' } },
      base: here,
    });
    expect(loaded.section).toBe('consul');
    expect(loaded.kind).toBe('fixture-named');
    expect(loaded.specifier).toBe(pathToFileURL(join(fixtures, 'named-driver.js')).href);
    expect(loaded.settings).toEqual({ host: '127.0.0.1:8500' });
    const driver = (await loaded.createDriver({ scope: 'batman' } as DriverOptions)) as unknown as { kind: string; prefix: string };
    expect(driver).toMatchObject({ kind: 'fixture-named', prefix: '/batman/' });
  });

  it('accepts a base given as a file: URL, an absolute path and a file: URL driver', async () => {
    const viaUrl = await loadDriver({ config: { consul: { driver: '../fixtures/default-driver.js' } }, base: new URL(`${pathToFileURL(fixtures).href}/`) });
    expect(viaUrl.kind).toBe('consul');
    const driver = (await viaUrl.createDriver({} as DriverOptions)) as unknown as { kind: string };
    expect(driver.kind).toBe('fixture-default');
    const absolute = await loadDriver({ config: { consul: { driver: join(fixtures, 'default-driver.js') } } });
    expect(absolute.specifier).toBe(pathToFileURL(join(fixtures, 'default-driver.js')).href);
    const url = pathToFileURL(join(fixtures, 'named-driver.js')).href;
    expect((await loadDriver({ config: { consul: { driver: url } } })).specifier).toBe(url);
  });

  it('passes a package name to the importers unchanged and uses the first that succeeds', async () => {
    const failing = tableImporter({});
    const serving = tableImporter({ 'pgha-dcs-consul': { createDriver: fakeFactory, kind: 'consul' } });
    const loaded = await loadDriver({ config: { consul: { driver: 'pgha-dcs-consul' } }, importers: [failing, serving] });
    expect(failing.asked).toEqual(['pgha-dcs-consul']);
    expect(serving.asked).toEqual(['pgha-dcs-consul']);
    expect(loaded.createDriver).toBe(fakeFactory);
  });

  it('accepts a CommonJS-style module (default export holding createDriver)', async () => {
    const importer = tableImporter({ 'cjs-driver': { default: { createDriver: fakeFactory, kind: 'cjs' } } });
    const loaded = await loadDriver({ config: { consul: { driver: 'cjs-driver' } }, importers: [importer] });
    expect(loaded.createDriver).toBe(fakeFactory);
    expect(loaded.kind).toBe('cjs');
  });

  it('reports a missing package with the section, the specifier and every importer error', async () => {
    const e = await loadError({
      config: { consul: { driver: 'pgha-dcs-consul' } },
      importers: [
        async () => {
          throw new Error('not found from the agent');
        },
        async () => {
          throw new Error('not found globally');
        },
      ],
    });
    expect(e.code).toBe(DcsErrorCode.PluginLoad);
    expect(e.message).toContain('`consul:`');
    expect(e.message).toContain("'pgha-dcs-consul'");
    expect(e.message).toContain('importer 1: not found from the agent');
    expect(e.message).toContain('importer 2: not found globally');
  });

  it('reports a real missing module with the default importer', async () => {
    const e = await loadError({ config: { consul: { driver: './fixtures/does-not-exist.js' } }, base: here });
    expect(e.code).toBe(DcsErrorCode.PluginLoad);
    expect(e.message).toContain('does-not-exist.js');
    expect(e.message).toContain('importer 1:');
  });

  it('reports a module that fails at import', async () => {
    const e = await loadError({ config: { consul: { driver: './fixtures/throws-on-import.js' } }, base: here });
    expect(e.code).toBe(DcsErrorCode.PluginLoad);
    expect(e.message).toContain('fixture plugin failed at import');
  });

  it('reports a module without a factory', async () => {
    const e = await loadError({ config: { consul: { driver: './fixtures/no-factory.js' } }, base: here });
    expect(e.code).toBe(DcsErrorCode.PluginLoad);
    expect(e.message).toContain('no-factory.js');
    expect(e.message).toContain('`consul:`');
    expect(e.message).toContain('createDriver');
  });
});
