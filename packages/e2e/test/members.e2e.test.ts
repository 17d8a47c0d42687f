/**
 * End-to-end, members and callbacks (issue #9) on one three-member cluster:
 * - adding a member online (the seed manual's chapter 7: a copy of the YAML with its own name and
 *   addresses, then start): it clones from the leader and streams; stopping it for good lets its
 *   member key expire;
 * - callbacks: every member runs a script for `on_start`, `on_stop`, `on_restart`, `on_reload` and
 *   `on_role_change` that appends its arguments (`action role scope`, as Patroni passes them) to
 *   a file in the member's directory. A switchover must log `on_role_change master` (Patroni
 *   3.0.2's name for the primary role) on the new primary and `on_role_change replica` on the old
 *   one; POST /restart and /reload fire `on_restart` and `on_reload`.
 * Outcomes only; every wait is bounded generously.
 *
 * PGHA_E2E_ECHO=1 shows the agents' logs.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { api } from './support/rest.js';
import { query } from '@pgha/workload';
import { WAIT_MS, diagnostics, tail, waitForRow, waitForStreaming } from './support/cluster-checks.js';
import { e2eStore } from './support/store.js';

/** etcd in the `e2e` project, ZooKeeper in `e2e-zookeeper` (support/store.ts). */
const DCS = e2eStore();

const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
const SCOPE = 'members';
const TABLE = 'members_probe';
const echo = process.env['PGHA_E2E_ECHO'] === '1';



/** The callback lines a member logged: `<epoch seconds> <action> <role> <scope>`, without the timestamp. */
function callbackLog(member: MemberHandle): string[] {
  const file = join(member.dataDir, '..', 'callbacks.log');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ').slice(1).join(' '));
}

async function waitForCallback(member: MemberHandle, line: string, after = 0): Promise<void> {
  await waitFor(`${member.name} logging callback "${line}"`, async () => callbackLog(member).slice(after).includes(line), WAIT_MS, 250).catch(
    (e: unknown) => {
      throw new Error(`${(e as Error).message}; logged: ${JSON.stringify(callbackLog(member))}\n${tail(member)}`);
    },
  );
}

async function memberNames(member: MemberHandle): Promise<string[]> {
  const res = await api(member, 'GET', '/cluster');
  return (JSON.parse(res.text) as { members: { name: string }[] }).members.map((m) => m.name);
}

describe(`members added and removed online, callbacks, on ${DCS}`, () => {
  let cluster: LocalCluster;
  let scriptDir: string;

  beforeAll(async () => {
    // The agents run as postgres: the script must be readable and executable by it. HOME is the
    // member's directory (tools/cluster sets it), so each member logs to its own file.
    scriptDir = mkdtempSync(join(tmpdir(), 'pgha-callbacks-'));
    chmodSync(scriptDir, 0o755);
    const script = join(scriptDir, 'callback.sh');
    writeFileSync(script, '#!/bin/sh\necho "$(date +%s.%N) $*" >> "$HOME/callbacks.log"\n');
    chmodSync(script, 0o755);
    const callbacks = Object.fromEntries(['on_start', 'on_stop', 'on_restart', 'on_reload', 'on_role_change'].map((a) => [a, script]));
    // before_stop gets no arguments (as in Patroni): its own script says what it is.
    const beforeStop = join(scriptDir, 'before-stop.sh');
    writeFileSync(beforeStop, '#!/bin/sh\necho "$(date +%s.%N) before_stop" >> "$HOME/callbacks.log"\n');
    chmodSync(beforeStop, 0o755);
    cluster = await startLocalCluster({ members: 3, dcs: DCS, scope: SCOPE, timing: TIMING, postgresql: { callbacks, before_stop: beforeStop }, echo });
    const primary = await cluster.waitForPrimary(WAIT_MS);
    await waitForStreaming(cluster, primary).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`);
    });
    await query(primary, `CREATE TABLE ${TABLE} (id bigserial PRIMARY KEY, note text)`);
  });

  afterAll(async () => {
    await cluster?.stop();
    if (scriptDir) rmSync(scriptDir, { recursive: true, force: true });
  });

  it('every member ran on_start when its PostgreSQL started', async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    for (const m of cluster.members) {
      await waitFor(`${m.name} logging on_start`, async () => callbackLog(m).some((l) => l.startsWith('on_start ') && l.endsWith(` ${SCOPE}`)), WAIT_MS, 250);
    }
    // The bootstrapping member started as the primary: Patroni 3.0.2 calls that role `master`.
    expect(callbackLog(primary)).toContain(`on_start master ${SCOPE}`);
  });

  it('a member added online clones from the leader and streams; stopped for good, it runs before_stop then on_stop, and its key expires', async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    const added = await cluster.addMember();
    await waitForStreaming(cluster, primary).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${tail(added)}`);
    });
    const [row] = await query<{ id: string }>(primary, `INSERT INTO ${TABLE} (note) VALUES ('after adding') RETURNING id`);
    await waitForRow(added, TABLE, Number(row!.id));
    expect(await memberNames(primary)).toContain(added.name);

    await added.stop();
    cluster.members.splice(cluster.members.indexOf(added), 1);
    // before_stop runs (synchronously) before PostgreSQL is stopped, on_stop after.
    await waitForCallback(added, `on_stop replica ${SCOPE}`);
    const log = callbackLog(added);
    expect(log.indexOf('before_stop'), JSON.stringify(log)).toBeGreaterThan(-1);
    expect(log.indexOf('before_stop')).toBeLessThan(log.lastIndexOf(`on_stop replica ${SCOPE}`));
    await waitFor(`the member key of ${added.name} expiring`, async () => !(await memberNames(primary)).includes(added.name), WAIT_MS, 500);
    // The rest of the cluster is unaffected.
    await waitForStreaming(cluster, primary);
  });

  it('a switchover fires on_role_change: master on the new primary, replica on the old one', async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    const candidate = cluster.members.find((m) => m !== primary)!;
    const before = { old: callbackLog(primary).length, next: callbackLog(candidate).length };
    const res = await api(primary, 'POST', '/switchover', { leader: primary.name, candidate: candidate.name });
    expect(res.status).toBe(200);
    const next = await cluster.waitForPrimary(WAIT_MS, primary.name);
    expect(next.name).toBe(candidate.name);
    await waitForCallback(candidate, `on_role_change master ${SCOPE}`, before.next);
    await waitForCallback(primary, `on_role_change replica ${SCOPE}`, before.old);
    await waitForStreaming(cluster, next);
  });

  it('POST /restart fires on_restart and POST /reload fires on_reload', async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    // The switchover before demoted a member: it must have rejoined (a restart asked for while it
    // still rejoins is refused, 503 "… already in progress", as Patroni does).
    await waitForStreaming(cluster, primary);
    const replica = cluster.members.find((m) => m !== primary)!;
    const before = callbackLog(replica).length;
    const restart = await api(replica, 'POST', '/restart', {});
    expect(restart.status, restart.text).toBe(200);
    await waitForCallback(replica, `on_restart replica ${SCOPE}`, before);
    const beforeReload = callbackLog(primary).length;
    expect((await api(primary, 'POST', '/reload')).status).toBe(202);
    await waitForCallback(primary, `on_reload master ${SCOPE}`, beforeReload);
  });
});
