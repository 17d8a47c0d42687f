/**
 * End-to-end: operator mistakes in the configuration (pgha issue 15; security review H5, H6,
 * H7-config) on one three-member cluster over etcd.
 *
 * - PATCH /config with timing values out of range is refused (400 naming the key), nothing written.
 * - An out-of-range ttl, then a config key that does not parse, written straight into etcd while
 *   the cluster is paused: every member stays paused on the last good configuration, the primary
 *   keeps its lock, the agents keep running, each says so once, and GET /config and
 *   `pghactl show-config` say the stored value is invalid.
 * - A DCS postgresql section with a string pg_hba / pg_ident and parameters whose name or value
 *   holds a newline: every member keeps running, drops the bad entries with a warning, applies the
 *   rest, can still restart, and no injected line reaches postgresql.conf.
 * - A YAML file with a schema error and an unknown key, reloaded: the running configuration stays,
 *   the error and the warning name the key path, the agent keeps running.
 *
 * Outcomes only, every wait bounded; no duration is asserted. PGHA_E2E_ECHO=1 shows the agents' logs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { etcdctl, keyPath, readKey } from './support/etcd-keys.js';
import { pghactl } from './support/pghactl.js';
import { api } from './support/rest.js';
import { query } from '@pgha/workload';
import { WAIT_MS, diagnostics, waitForStreaming } from './support/cluster-checks.js';

const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
const STEP_MS = 60_000;
const INVALID = 'invalid dynamic configuration in the DCS';

describe('operator mistakes in the configuration', () => {
  let cluster: LocalCluster;
  let primary: MemberHandle;

  const putConfigKey = (value: string) => etcdctl(cluster, 'put', keyPath(cluster, 'config'), value);
  const statuses = () => Promise.all(cluster.members.map((m) => m.status()));
  const count = (text: string, needle: string) => text.split(needle).length - 1;

  /** Waits until every member's GET /patroni satisfies `check`. */
  const waitForAll = (what: string, check: (s: Record<string, unknown>) => boolean, timeoutMs = STEP_MS) =>
    waitFor(what, async () => (await statuses()).every((s) => s !== null && check(s)), timeoutMs, 250).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics(cluster, 30)}`);
    });

  /** Waits until every member has read the DCS a few more times (several cycles at loop_wait 1). */
  const waitForCycles = async () => {
    const mark = Math.floor(Date.now() / 1000);
    await waitForAll('three more DCS reads on every member', (s) => typeof s['dcs_last_seen'] === 'number' && s['dcs_last_seen'] >= mark + 3);
  };

  /**
   * A mark in a member's output: its last line now. The harness keeps only the last 200 lines, so
   * offsets do not work; what follows the mark's last occurrence is newer (all of it, once the
   * mark has scrolled out).
   */
  const markOf = (m: MemberHandle): string => m.output().trimEnd().split('\n').pop() ?? '';
  const since = (m: MemberHandle, mark: string): string => {
    const out = m.output();
    const at = mark === '' ? -1 : out.lastIndexOf(mark);
    return at < 0 ? out : out.slice(at + mark.length);
  };
  const waitForLog = (members: MemberHandle[], marks: string[], needle: string) =>
    waitFor(`"${needle}" in the logs of ${members.map((m) => m.name).join(', ')}`, async () => members.every((m, i) => since(m, marks[i]!).includes(needle)), STEP_MS, 250).catch(
      (e: unknown) => {
        throw new Error(`${(e as Error).message}\n${diagnostics(cluster, 30)}`);
      },
    );

  beforeAll(async () => {
    cluster = await startLocalCluster({ dcs: 'etcd', timing: TIMING, echo: process.env['PGHA_E2E_ECHO'] === '1' });
    primary = await cluster.waitForPrimary(WAIT_MS);
    await waitForStreaming(cluster, primary);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('PATCH /config refuses timing values out of range, naming the key, and writes nothing', async () => {
    const before = await etcdctl(cluster, 'get', '--print-value-only', keyPath(cluster, 'config'));
    const answers = [];
    for (const patch of [{ ttl: 1e7 }, { retry_timeout: 3e6 }, { ttl: 1 }, { postgresql: { pg_hba: 'host all all 0.0.0.0/0 trust' } }]) {
      answers.push(await api(primary, 'PATCH', '/config', patch));
    }
    expect(answers).toEqual([
      { status: 400, text: 'ttl: must be between 4 and 86400 seconds, got 10000000' },
      { status: 400, text: 'retry_timeout: must be between 1 and 3600 seconds, got 3000000' },
      { status: 400, text: 'ttl: must be between 4 and 86400 seconds, got 1' },
      { status: 400, text: 'postgresql.pg_hba: expected a list of strings' },
    ]);
    expect(await etcdctl(cluster, 'get', '--print-value-only', keyPath(cluster, 'config'))).toBe(before);
  });

  it('a paused cluster stays paused on the last good configuration when the key is out of range or does not parse', async () => {
    expect((await api(primary, 'PATCH', '/config', { pause: true })).status).toBe(200);
    await waitForAll('every member paused', (s) => s['pause'] === true);
    const good = (await readKey<Record<string, unknown>>(cluster, 'config'))!;

    // 1. etcdctl writes an out-of-range ttl, and drops pause: applied, it would unpause every
    //    member and make every DCS call fail at once (a timer over 2^31-1 ms fires after 1 ms).
    let from = cluster.members.map(markOf);
    const { pause: _pause, ...unpaused } = good;
    await putConfigKey(JSON.stringify({ ...unpaused, ttl: 10_000_000 }));
    // Reads after the write see it: three of them on every member, then the outcome.
    await waitForCycles();
    const outOfRange = await statuses();
    expect(outOfRange.map((s) => s?.['pause'])).toEqual([true, true, true]);
    expect(outOfRange.filter((s) => s?.['role'] === 'master').map((s) => (s?.['patroni'] as { name: string }).name)).toEqual([primary.name]);
    await waitForLog(cluster.members, from, INVALID);
    expect(cluster.members.map((m) => count(since(m, from[m.index]!), INVALID))).toEqual([1, 1, 1]);
    const shown = await primary.request('GET', '/config');
    expect([shown.status, shown.headers['x-pgha-config-invalid'], JSON.parse(shown.text)]).toEqual([
      200,
      'config.ttl: must be between 4 and 86400 seconds, got 10000000',
      good,
    ]);
    const ctlOutOfRange = await pghactl(primary, ['show-config']);
    expect([ctlOutOfRange.code, ctlOutOfRange.stderr]).toEqual([
      0,
      'Warning: the configuration in the DCS is invalid (ttl: must be between 4 and 86400 seconds, got 10000000); fix it with edit-config.\n',
    ]);

    // 2. A hand edit that does not parse (a truncated value): every member keeps the last good one.
    from = cluster.members.map(markOf);
    await putConfigKey('{"ttl": 10, "pause": tru');
    await waitForCycles();
    const corrupt = await statuses();
    expect(corrupt.map((s) => s?.['pause'])).toEqual([true, true, true]);
    expect(corrupt.filter((s) => s?.['role'] === 'master').map((s) => (s?.['patroni'] as { name: string }).name)).toEqual([primary.name]);
    await waitForLog(cluster.members, from, `${INVALID}: the config key does not parse`);
    expect(cluster.members.map((m) => count(since(m, from[m.index]!), INVALID))).toEqual([1, 1, 1]);
    const broken = await primary.request('GET', '/config');
    expect([broken.status, String(broken.headers['x-pgha-config-invalid']).startsWith('the config key does not parse'), JSON.parse(broken.text)]).toEqual([200, true, good]);
    const ctlBroken = await pghactl(primary, ['show-config']);
    expect(ctlBroken.stderr).toMatch(/^Warning: the config key in the DCS is invalid \(config: not valid JSON: .*\); the members keep running on their last good configuration\. Fix it with edit-config\.\n$/);
    // The fix goes through the usual tools: PUT /config replaces the broken key.
    expect((await api(primary, 'PUT', '/config', unpaused)).status).toBe(200);
    await waitForAll('every member resumed', (s) => s['pause'] !== true);
    expect(await readKey(cluster, 'config')).toEqual(unpaused);
  });

  it('a DCS postgresql section with a string pg_hba / pg_ident and newline-laden parameters: members keep running and restarting, postgresql.conf stays clean', async () => {
    const good = (await readKey<Record<string, Record<string, unknown>>>(cluster, 'config'))!;
    const postgresql = good['postgresql'] ?? {};
    const bad = {
      ...good,
      postgresql: {
        ...postgresql,
        pg_hba: 'host all all 0.0.0.0/0 trust',
        pg_ident: 'map root postgres',
        parameters: {
          ...(postgresql['parameters'] as Record<string, unknown>),
          work_mem: '7MB',
          "x = 1\ninclude_if_exists = '/tmp/pgha-evil.conf'": 'on',
          statement_timeout: "0'\nshared_preload_libraries = 'evil",
        },
      },
    };
    const from = cluster.members.map(markOf);
    await putConfigKey(JSON.stringify(bad));
    // The valid rest is applied (work_mem is reload-context).
    await waitFor('work_mem 7MB on every member', async () => (await Promise.all(cluster.members.map((m) => query<{ work_mem: string }>(m, 'SHOW work_mem')))).every((r) => r[0]?.work_mem === '7MB'), STEP_MS, 250);

    const replica = cluster.members.find((m) => m !== primary)!;
    const restarted = await api(replica, 'POST', '/restart', {});
    expect(restarted, diagnostics(cluster, 30)).toEqual({ status: 200, text: 'restarted successfully' });
    await waitForStreaming(cluster, primary);
    expect((await statuses()).map((s) => s?.['state'])).toEqual(['running', 'running', 'running']);

    for (const m of cluster.members) {
      const conf = readFileSync(join(m.dataDir, 'postgresql.conf'), 'utf8');
      const lines = conf.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
      expect(lines.filter((l) => !/^(include '[^']*'|[A-Za-z_][A-Za-z0-9_$.]* = '([^'\\]|''|\\.)*')$/.test(l)), m.name).toEqual([]);
      expect(conf).not.toContain('pgha-evil');
      expect(conf).not.toContain('shared_preload_libraries');
      expect(readFileSync(join(m.dataDir, 'pg_hba.conf'), 'utf8')).not.toContain('0.0.0.0/0');
    }
    await waitForLog(cluster.members, from, 'Removing unexpected parameter');
    await waitForLog(cluster.members, from, 'config.postgresql.pg_ident: expected a list of lines');
    expect((await api(primary, 'PUT', '/config', good)).status).toBe(200);
  });

  it('a reload of a YAML with a schema error keeps the running configuration; unknown keys are named', async () => {
    const member = cluster.members.find((m) => m !== primary)!;
    const original = readFileSync(member.configPath, 'utf8');
    expect(original).toMatch(/^restapi:\n/m);
    expect(original).toMatch(/^postgresql:\n/m);
    try {
      let from = markOf(member);
      writeFileSync(member.configPath, original.replace(/^postgresql:\n/m, 'postgresql:\n  pg_ctl_timeout: soon\n'));
      expect((await api(member, 'POST', '/reload', {})).status).toBe(202);
      await waitForLog([member], [from], 'configuration reload rejected, keeping the running configuration');
      expect(since(member, from)).toMatch(/configuration reload rejected, keeping the running configuration: invalid configuration:\s+postgresql\.pg_ctl_timeout: /);
      expect((await member.status())?.['state']).toBe('running');

      from = markOf(member);
      writeFileSync(member.configPath, original.replace(/^restapi:\n/m, 'restapi:\n  authentification:\n    username: admin\n    password: secret\n'));
      expect((await api(member, 'POST', '/reload', {})).status).toBe(202);
      await waitForLog([member], [from], 'restapi.authentification: unknown key, ignored');
      expect((await member.status())?.['state']).toBe('running');
    } finally {
      writeFileSync(member.configPath, original);
    }
  });
});
