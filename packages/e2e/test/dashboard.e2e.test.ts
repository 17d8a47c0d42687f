/**
 * End-to-end (issue #18, the dashboard): `pghactl dashboard` as its own process against a live
 * three-member cluster, opened in a real browser (Debian's headless Chromium, driven by
 * playwright-core). The page names the leader; a switchover happens and the page names the new
 * one, with the timeline switch in its history; the lag chart has data; pausing the cluster
 * raises the maintenance alert. The dashboard refuses anything but GET.
 *
 * PGHA_E2E_DCS=etcd runs it on etcd (default ZooKeeper); PGHA_E2E_ECHO=1 shows the agents' logs.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { diagnostics, healthyPrimary, WAIT_MS } from './support/cluster-checks.js';
import { pghactl } from './support/pghactl.js';

const DCS = (process.env['PGHA_E2E_DCS'] ?? 'zookeeper') as 'etcd' | 'zookeeper';
const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
const CLI = fileURLToPath(new URL('../../cli/src/bin.ts', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
// Without the background-networking flags Chromium dials out (updates, sync, QUIC probes), and
// this closed network refuses it: the launch then stalls or logs errors.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Starts `pghactl dashboard` on a free port; resolves with its URL once it prints it. */
function startDashboard(member: MemberHandle): Promise<{ child: ChildProcessWithoutNullStreams; url: string; output: () => string }> {
  const child = spawn(process.execPath, ['--conditions=@pgha/source', '--import', import.meta.resolve('tsx'), CLI, '-c', member.configPath, 'dashboard', '--listen', '127.0.0.1:0'], {
    env: { ...process.env, HOME: '/nonexistent' },
  });
  let out = '';
  const output = () => out;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pghactl dashboard printed no URL within 60 s:\n${out}`)), 60_000);
    const seen = (c: Buffer): void => {
      out += c.toString();
      const url = /at (http:\/\/\S+\/) /.exec(out)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve({ child, url, output });
      }
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.on('exit', (code) => reject(new Error(`pghactl dashboard exited with ${code}:\n${out}`)));
  });
}

describe(`dashboard in a browser (${DCS})`, () => {
  let cluster: LocalCluster;
  let primary: MemberHandle;
  let dashboard: Awaited<ReturnType<typeof startDashboard>> | undefined;
  let browser: BrowserContext | undefined;
  let page: Page;
  let profile: string;
  let shots: string;

  const fail = (e: unknown): never => {
    throw new Error(`${(e as Error).message}\n--- dashboard\n${dashboard?.output() ?? ''}\n${diagnostics(cluster, 25)}`);
  };
  const text = (selector: string) => page.locator(selector).first().textContent({ timeout: 5000 }).catch(() => null);
  /** Polls the page until `read` gives what `ok` wants; the last value read, for the assertion. */
  const waitForPage = async <T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> => {
    let last = await read();
    await waitFor(what, async () => ok((last = await read())), WAIT_MS, 250).catch(fail);
    return last;
  };

  beforeAll(async () => {
    cluster = await startLocalCluster({ members: 3, dcs: DCS, timing: TIMING, echo: process.env['PGHA_E2E_ECHO'] === '1' });
    primary = await healthyPrimary(cluster);
    dashboard = await startDashboard(primary);
    profile = await mkdtemp(join(tmpdir(), 'pgha-chromium-'));
    shots = await mkdtemp(join(tmpdir(), 'pgha-dashboard-shots-'));
    browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, viewport: { width: 1280, height: 1100 } });
    page = browser.pages()[0] ?? (await browser.newPage());
    await page.goto(dashboard.url);
  });

  afterAll(async () => {
    await browser?.close();
    dashboard?.child.kill('SIGTERM');
    await cluster?.stop();
    if (profile) await rm(profile, { recursive: true, force: true });
    if (shots) await rm(shots, { recursive: true, force: true });
  });

  it('shows the leader, every member, a lag chart with data, and a counting-down lock; it refuses writes', async () => {
    const leader = await waitForPage('the page to name a leader', () => text('#leader-name'), (t) => t === primary.name);
    expect(leader).toBe(primary.name);
    const rows = await waitForPage('three member rows, two of them streaming', async () => page.locator('#members tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [tr.getAttribute('data-member') ?? '', tr.getAttribute('data-role') ?? '', tr.children[3]?.textContent ?? ''])), (r) => r.filter((x) => x[2] === 'streaming').length === 2);
    expect(rows.map((r) => r[0]).sort()).toEqual(cluster.members.map((m) => m.name).sort());
    expect(rows.find((r) => r[0] === primary.name)?.[1]).toBe('leader');

    const points = await waitForPage('the lag chart to have a few samples', async () => Number(await page.locator('#lag-chart').getAttribute('data-points')), (n) => n >= 3);
    expect(points).toBeGreaterThanOrEqual(3);
    expect(await page.locator('#lag-chart canvas').count()).toBeGreaterThan(0);
    expect((await page.locator('#lag-chart').getAttribute('data-series'))?.split(',').sort()).toEqual(cluster.members.map((m) => m.name).sort());

    const ttl = await waitForPage('the lock time to live to show', () => text('#leader-ttl'), (t) => /^\d+\.\d s$/.test(t ?? ''));
    expect(Number(ttl?.split(' ')[0])).toBeLessThanOrEqual(TIMING.ttl);
    expect(await page.locator('#alerts li[data-code]').count()).toBe(0);

    const post = await fetch(new URL('api/view', dashboard!.url), { method: 'POST' });
    expect(post.status).toBe(405);
  });

  it('a switchover: the page names the new leader and shows the timeline switch', async () => {
    const candidate = cluster.members.find((m) => m !== primary)!;
    const r = await pghactl(primary, ['switchover', '--leader', primary.name, '--candidate', candidate.name, '--force']);
    expect(r.code, r.stderr).toBe(0);
    const leader = await waitForPage(`the page to name ${candidate.name}`, () => text('#leader-name'), (t) => t === candidate.name);
    expect(leader).toBe(candidate.name);
    const history = await waitForPage('a timeline switch in the page history', () => page.locator('#history tbody tr td:last-child').allTextContents(), (h) => h.includes(candidate.name));
    expect(history).toContain(candidate.name);
    const decisions = await waitForPage('a switchover decision in the page', () => page.locator('#decisions tbody tr[data-code]').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-code') ?? '')), (c) => c.length > 0);
    expect(decisions.some((c) => c.startsWith('switchover.') || c.startsWith('race.'))).toBe(true);
    primary = candidate;
  });

  it('a paused cluster raises the maintenance alert', async () => {
    const paused = await pghactl(primary, ['pause', '--wait']);
    expect(paused.code, paused.stderr).toBe(0);
    const alert = await waitForPage('the paused alert', () => text('#alerts li[data-code="paused"]'), (t) => t !== null);
    expect(alert).toBe('maintenance mode is on: no automatic failover');
    expect(await text('#pause')).toBe('Maintenance mode: on');
    await page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: true });
    const resumed = await pghactl(primary, ['resume', '--wait']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const gone = await waitForPage('the paused alert to go', () => page.locator('#alerts li[data-code="paused"]').count(), (n) => n === 0);
    expect(gone).toBe(0);
  });
});
