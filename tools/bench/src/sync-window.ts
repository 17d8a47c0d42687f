/**
 * Synchronous mode's window without a successor (issue #22), for pgha and Patroni in one run: how
 * long after a standby is synchronous the `sync` key names it (only then may it be promoted), and
 * what a node crash of the primary 1 s after that moment costs.
 *
 *   pnpm exec tsx --conditions=@pgha/source tools/bench/src/sync-window.ts \
 *     [--agents pgha,patroni] [--dcs etcd|zookeeper] [--reps 3] [--timing 20/5/7] [--dist] [--json out.json]
 *
 * Per agent, one 3-member cluster, a client committing all along (the chaos writer: client-side
 * deadlines only, so a commit is counted only when the server acknowledged it), and per rep:
 * - on: `PATCH /config {"synchronous_mode": true}` on an asynchronous cluster; times to the key
 *   naming a standby, from the PATCH and from when the primary's pg_stat_replication first
 *   showed that standby synchronous;
 * - replaced: the synchronous standby's agent stopped (it stops its PostgreSQL); times to the key
 *   naming the other standby, from the stop and from when that one showed synchronous;
 * - crash: synchronous mode switched on again, and 1 s after a standby shows synchronous the
 *   primary's agent and postmaster are killed: time until a new primary took a commit (or none
 *   within 3 × ttl + 60 s).
 * At the end, every acknowledged commit is looked for on the last primary.
 * The key and pg_stat_replication are polled every 50 ms, so times are up to 50 ms late, alike for both.
 */
import { writeFileSync } from 'node:fs';
import { ACKED_TABLE, ACKED_TABLE_DDL, connect, startWriter, type Writer } from '@pgha/workload';
import {
  openClusterStore,
  startLocalCluster,
  syncStandbys,
  type AgentKind,
  type ClusterStore,
  type LocalCluster,
  type MemberHandle,
} from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { healthy, sleep, sql } from './cluster-health.js';
import { median, parseCommonArgs, type CommonOptions } from './options.js';

const POLL_MS = 50;

type Options = CommonOptions;

function parseArgs(argv: string[]): Options {
  return parseCommonArgs(argv, { ttl: 20, loopWait: 5, retryTimeout: 7 });
}

const log = (message: string) => process.stderr.write(`${new Date().toISOString()} ${message}\n`);

interface Result {
  agent: AgentKind;
  onToKeyMs: number[];
  onSyncToKeyMs: number[];
  replaceToKeyMs: number[];
  replaceSyncToKeyMs: number[];
  crashToWritableMs: number[];
  /** Crash runs in which no other member took a commit within the bound. */
  crashNoPrimary: number;
  acked: number;
  lost: number;
  notes: string[];
}

/**
 * Polls the primary's walsenders and the `sync` key together until `done` says so; returns when
 * each standby was first seen synchronous and first named in the key (wall ms).
 */
async function observe(
  primary: MemberHandle,
  store: ClusterStore,
  done: (seen: { key: string[]; sync: Map<string, number>; named: Map<string, number> }) => boolean,
  timeoutMs = 120_000,
): Promise<{ key: string[]; sync: Map<string, number>; named: Map<string, number> }> {
  const client = connect(primary, 2000);
  await client.connect();
  const seen = { key: [] as string[], sync: new Map<string, number>(), named: new Map<string, number>() };
  try {
    const deadline = Date.now() + timeoutMs;
    while (!done(seen)) {
      if (Date.now() > deadline) throw new Error(`gave up after ${timeoutMs} ms; key [${seen.key.join()}], synchronous [${[...seen.sync.keys()].join()}]`);
      const [rows, cluster] = await Promise.all([
        client.query<{ application_name: string; sync_state: string }>('SELECT application_name, sync_state FROM pg_stat_replication'),
        store.loadCluster(),
      ]);
      const now = Date.now();
      for (const r of rows.rows) if ((r.sync_state === 'sync' || r.sync_state === 'quorum') && !seen.sync.has(r.application_name)) seen.sync.set(r.application_name, now);
      seen.key = syncStandbys(cluster, primary.name);
      for (const n of seen.key) if (!seen.named.has(n)) seen.named.set(n, now);
      await sleep(POLL_MS);
    }
    return seen;
  } finally {
    await client.end().catch(() => {});
  }
}

async function patch(member: MemberHandle, body: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${member.apiUrl}/config`, { method: 'PATCH', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  if (res.status !== 200) throw new Error(`PATCH /config ${JSON.stringify(body)}: ${res.status} ${await res.text()}`);
}

/** Synchronous mode off, and the key and the walsenders showing it. */
async function asynchronous(cluster: LocalCluster, store: ClusterStore): Promise<MemberHandle> {
  const primary = await healthy(cluster);
  await patch(primary, { synchronous_mode: false });
  await waitFor(
    'synchronous replication off',
    async () => {
      const rows = await sql(primary, "SELECT count(*)::int AS n FROM pg_stat_replication WHERE sync_state <> 'async'");
      return Number(rows[0]?.['n']) === 0 && syncStandbys(await store.loadCluster(), primary.name).length === 0;
    },
    120_000,
    250,
  );
  return primary;
}

async function switchedOn(cluster: LocalCluster, store: ClusterStore, r: Result): Promise<void> {
  const primary = await asynchronous(cluster, store);
  const t0 = Date.now();
  await patch(primary, { synchronous_mode: true });
  const seen = await observe(primary, store, (s) => s.key.length > 0);
  const name = seen.key[0]!;
  const keyAt = seen.named.get(name)!;
  r.onToKeyMs.push(keyAt - t0);
  r.onSyncToKeyMs.push(keyAt - (seen.sync.get(name) ?? keyAt));
  log(`${r.agent} on: key names ${name} ${keyAt - t0} ms after the PATCH, ${keyAt - (seen.sync.get(name) ?? keyAt)} ms after it showed synchronous`);

  const t1 = Date.now();
  const leaving = cluster.members.find((m) => m.name === name)!;
  await leaving.stop();
  const other = await observe(primary, store, (s) => s.key.length > 0 && !s.key.includes(name));
  const next = other.key[0]!;
  const nextAt = other.named.get(next)!;
  r.replaceToKeyMs.push(nextAt - t1);
  r.replaceSyncToKeyMs.push(nextAt - (other.sync.get(next) ?? nextAt));
  log(`${r.agent} replaced: key names ${next} ${nextAt - t1} ms after ${name} was stopped, ${nextAt - (other.sync.get(next) ?? nextAt)} ms after ${next} showed synchronous`);
  leaving.start();
  await healthy(cluster);
}

async function crashAfterSync(cluster: LocalCluster, store: ClusterStore, writer: Writer, o: Options, r: Result): Promise<void> {
  const primary = await asynchronous(cluster, store);
  await patch(primary, { synchronous_mode: true });
  const seen = await observe(primary, store, (s) => s.sync.size > 0);
  const syncAt = Math.min(...seen.sync.values());
  await sleep(Math.max(0, syncAt + 1000 - Date.now()));
  const tc = Date.now();
  await primary.killAgent();
  primary.killPostmaster();
  const bound = (3 * o.timing.ttl + 60) * 1000;
  const promoted = await waitFor('a commit on another member', async () => writer.acked().some((c) => c.at > tc && c.member !== primary.name), bound, 50).then(
    () => true,
    () => false,
  );
  if (promoted) {
    const first = writer.acked().find((c) => c.at > tc && c.member !== primary.name)!;
    r.crashToWritableMs.push(first.at - tc);
    log(`${r.agent} crash 1 s after a standby showed synchronous: ${first.member} took a commit ${first.at - tc} ms after the kill`);
  } else {
    r.crashNoPrimary += 1;
    log(`${r.agent} crash 1 s after a standby showed synchronous: NO new primary within ${bound} ms`);
  }
  primary.start();
  await healthy(cluster);
}

async function runAgent(agent: AgentKind, o: Options): Promise<Result> {
  const r: Result = { agent, onToKeyMs: [], onSyncToKeyMs: [], replaceToKeyMs: [], replaceSyncToKeyMs: [], crashToWritableMs: [], crashNoPrimary: 0, acked: 0, lost: 0, notes: [] };
  log(`starting a 3-member ${agent} cluster on ${o.dcs}, ttl/loop_wait/retry_timeout ${o.timing.ttl}/${o.timing.loopWait}/${o.timing.retryTimeout}`);
  const cluster = await startLocalCluster({ agent, dcs: o.dcs, scope: 'bench', timing: o.timing, useDist: o.dist });
  const store = await openClusterStore(cluster);
  let writer: Writer | null = null;
  try {
    const primary = await healthy(cluster);
    await sql(primary, ACKED_TABLE_DDL);
    writer = startWriter(cluster.members);
    for (let i = 0; i < o.reps; i++) await switchedOn(cluster, store, r);
    for (let i = 0; i < o.reps; i++) await crashAfterSync(cluster, store, writer, o, r);
    await writer.stop();
    const last = await healthy(cluster);
    const present = new Set((await sql(last, `SELECT id FROM ${ACKED_TABLE}`)).map((row) => Number(row['id'])));
    r.acked = writer.acked().length;
    r.lost = writer.acked().filter((c) => !present.has(c.id)).length;
    writer = null;
    log(`${agent}: ${r.acked} commits acknowledged, ${r.lost} lost`);
  } catch (e) {
    r.notes.push(`stopped early: ${(e as Error).message}`);
    log(`${agent}: ${(e as Error).stack ?? String(e)}`);
  } finally {
    await writer?.stop();
    await store.close();
    await cluster.stop();
  }
  return r;
}

const seconds = (ms: number | null) => (ms === null ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);

function table(results: Result[], o: Options): string {
  const rows: [string, (r: Result) => string][] = [
    ['synchronous_mode switched on → key names a standby', (r) => seconds(median(r.onToKeyMs))],
    ['… after that standby showed synchronous', (r) => seconds(median(r.onSyncToKeyMs))],
    ['sync standby stopped → key names the other one', (r) => seconds(median(r.replaceToKeyMs))],
    ['… after the other showed synchronous', (r) => seconds(median(r.replaceSyncToKeyMs))],
    ['primary node crash 1 s after a standby showed synchronous → new primary takes commits', (r) => seconds(median(r.crashToWritableMs))],
    ['… crash runs with no new primary', (r) => `${r.crashNoPrimary} of ${o.reps}`],
    ['acknowledged commits lost', (r) => `${r.lost} of ${r.acked}`],
  ];
  const runs = (r: Result) =>
    [r.onToKeyMs, r.onSyncToKeyMs, r.replaceToKeyMs, r.replaceSyncToKeyMs, r.crashToWritableMs].map((xs) => xs.map((x) => (x / 1000).toFixed(2)).join(', '));
  const lines = [
    `ttl ${o.timing.ttl}, loop_wait ${o.timing.loopWait}, retry_timeout ${o.timing.retryTimeout}; ${o.dcs}; medians of ${o.reps} runs.`,
    '',
    `| | ${results.map((r) => r.agent).join(' | ')} |`,
    `|---|${results.map(() => '---').join('|')}|`,
    ...rows.map(([name, f]) => `| ${name} | ${results.map(f).join(' | ')} |`),
    '',
    ...results.map((r) => `Runs (${r.agent}, s): on ${runs(r)[0]}; after synchronous ${runs(r)[1]}; replaced ${runs(r)[2]}; after synchronous ${runs(r)[3]}; crash ${runs(r)[4]}`),
  ];
  for (const r of results) for (const n of r.notes) lines.push('', `Note (${r.agent}): ${n}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const results: Result[] = [];
  for (const agent of o.agents) results.push(await runAgent(agent, o));
  if (o.json) writeFileSync(o.json, JSON.stringify({ options: o, results }, null, 2));
  process.stdout.write(`${table(results, o)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`sync-window bench failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
