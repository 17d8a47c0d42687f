import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startLocalCluster } from '@pgha/local-cluster';
import { query, tryQuery } from '@pgha/workload';
import { healthyPrimary } from './test/support/cluster-checks.js';
import { pghactl } from './test/support/pghactl.js';

const CLI = fileURLToPath(new URL('../cli/src/bin.ts', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cluster = await startLocalCluster({ members: 3, dcs: 'zookeeper', scope: 'demo', timing: { ttl: 10, loopWait: 1, retryTimeout: 3 } });
try {
  let primary = await healthyPrimary(cluster);
  const child = spawn(process.execPath, ['--conditions=@pgha/source', '--import', import.meta.resolve('tsx'), CLI, '-c', primary.configPath, 'dashboard', '--listen', '127.0.0.1:0']);
  const url = await new Promise<string>((res) => { let o = ''; child.stdout.on('data', (c: Buffer) => { o += c; const m = /at (http:\S+\/) /.exec(o); if (m) res(m[1]!); }); });
  console.log(url);
  await query(primary, 'CREATE TABLE t (id serial, pad text)');
  const lagger = cluster.members.find((m) => m !== primary)!;
  await sleep(5000);
  await query(lagger, 'SELECT pg_wal_replay_pause()');
  for (let i = 0; i < 20; i++) { await tryQuery(primary, "INSERT INTO t (pad) SELECT repeat('x', 1000) FROM generate_series(1, 2000)"); await sleep(500); }
  await query(lagger, 'SELECT pg_wal_replay_resume()');
  await sleep(6000);
  const cand = cluster.members.find((m) => m !== primary && m !== lagger)!;
  console.log(await pghactl(primary, ['switchover', '--leader', primary.name, '--candidate', cand.name, '--force']));
  primary = await healthyPrimary(cluster, primary.name);
  for (let i = 0; i < 10; i++) { await tryQuery(primary, "INSERT INTO t (pad) SELECT repeat('x', 1000) FROM generate_series(1, 1000)"); await sleep(500); }
  await sleep(8000);
  const ctx = await chromium.launchPersistentContext('/tmp/shot-profile-' + Date.now(), { executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'], headless: true, viewport: { width: 1280, height: 900 } });
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  await page.goto(url);
  await sleep(3000);
  await page.screenshot({ path: process.env.SHOT ?? '/tmp/dashboard.png', fullPage: true });
  await ctx.close();
  child.kill('SIGTERM');
} finally {
  await cluster.stop();
}
