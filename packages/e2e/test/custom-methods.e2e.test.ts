/**
 * End-to-end, custom bootstrap and replica creation through the agent (issue #9): a throwaway
 * PostgreSQL gets a table and a `pg_basebackup`; a pgha cluster configured with
 * `bootstrap.method: restore` runs a script that copies that backup into its data directory, so
 * the new cluster starts with the backup's table (its own system identifier is the backup's).
 * Replicas are created by `create_replica_methods: [basebackup_script, basebackup]`: the custom
 * script records that it ran and clones with pg_basebackup itself; once a flag file makes it fail,
 * a member added online falls back to `basebackup`.
 *
 * Also here, as it needs two clusters of one database system: a running cluster turned into a
 * standby cluster. A one-member source cluster, a one-member standby cluster cloned from it and
 * then promoted (`standby_cluster: null`); adding `standby_cluster` pointing at the promoted one
 * to the source's DCS config makes the source's primary demote into a standby leader that streams
 * from it, and its callbacks get the role `standby_leader`.
 * Outcomes only; every wait is bounded.
 *
 * PGHA_E2E_ECHO=1 shows the agents' logs.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_BIN_DIR, startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { freePort, waitFor } from '@pgha/test-servers';
import { query, replicationStates, tryQuery } from '@pgha/workload';
import { WAIT_MS, diagnostics, healthyPrimary, tail, waitForRow, waitForStreaming } from './support/cluster-checks.js';
import { api, apiJson } from './support/rest.js';
import { e2eStore } from './support/store.js';

/** etcd in the `e2e` project, ZooKeeper in `e2e-zookeeper` (support/store.ts). */
const DCS = e2eStore();

const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
const TABLE = 'restored_probe';
const echo = process.env['PGHA_E2E_ECHO'] === '1';


/** Runs a command as the postgres OS user (PostgreSQL refuses root), bounded. */
function asPostgres(command: string, args: string[]): string {
  return execFileSync('runuser', ['-u', 'postgres', '--', command, ...args], { timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

/** A script file executable by the postgres user. */
function script(path: string, body: string): string {
  writeFileSync(path, `#!/bin/sh\nset -e\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

/** The marker lines the replica script wrote: one `<datadir> <outcome>` per run. */
function markers(dir: string): string[] {
  const file = join(dir, 'replica-script.log');
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

describe(`custom bootstrap and replica creation methods on ${DCS}`, () => {
  let work: string;
  let cluster: LocalCluster;
  let sourceSystemId: string;

  beforeAll(async () => {
    // World-readable scripts; the marker and backup directories belong to postgres.
    work = mkdtempSync(join(tmpdir(), 'pgha-custom-'));
    chmodSync(work, 0o755);
    const owned = join(work, 'owned');
    mkdirSync(owned);
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    chownSync(owned, uid, gid);

    // The throwaway source: initdb, a table, a plain-format base backup with its WAL, stopped.
    const sourceData = join(owned, 'source');
    const backup = join(owned, 'backup');
    const port = await freePort();
    asPostgres(join(PG_BIN_DIR, 'initdb'), ['-D', sourceData, '-U', 'postgres', '--auth=trust', '--no-sync']);
    asPostgres(join(PG_BIN_DIR, 'pg_ctl'), ['-D', sourceData, '-w', '-l', join(owned, 'source.log'), '-o', `-p ${port} -k ${owned} -c listen_addresses=''`, 'start']);
    try {
      const psql = (sql: string) => asPostgres(join(PG_BIN_DIR, 'psql'), ['-h', owned, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-Atc', sql]);
      psql(`CREATE TABLE ${TABLE} (id int PRIMARY KEY, note text); INSERT INTO ${TABLE} VALUES (1, 'from the backup')`);
      sourceSystemId = psql('SELECT system_identifier FROM pg_control_system()').trim();
      asPostgres(join(PG_BIN_DIR, 'pg_basebackup'), ['-h', owned, '-p', String(port), '-U', 'postgres', '-D', backup, '-X', 'stream', '-c', 'fast']);
    } finally {
      asPostgres(join(PG_BIN_DIR, 'pg_ctl'), ['-D', sourceData, '-w', '-m', 'fast', 'stop']);
    }

    // Called as Patroni calls them: `--scope=.. --datadir=..` (+ `--role --connstring` for replicas) and the method's extra keys.
    const restore = script(join(work, 'restore.sh'), `for a in "$@"; do case "$a" in --datadir=*) d="\${a#--datadir=}";; --backup=*) b="\${a#--backup=}";; esac; done
mkdir -p "$d"; chmod 700 "$d"
cp -a "$b"/. "$d"/`);
    const replicaScript = script(join(work, 'replica.sh'), `for a in "$@"; do case "$a" in --datadir=*) d="\${a#--datadir=}";; --connstring=*) c="\${a#--connstring=}";; esac; done
if [ -e "${owned}/fail-replica-script" ]; then echo "$d failed" >> "${owned}/replica-script.log"; echo "the archive is unreachable" >&2; exit 3; fi
echo "$d ran" >> "${owned}/replica-script.log"
${PG_BIN_DIR}/pg_basebackup -D "$d" -d "$c" -X stream -c fast`);

    cluster = await startLocalCluster({
      dcs: DCS,
      members: 2,
      scope: 'custom',
      timing: TIMING,
      bootstrap: { method: 'restore', restore: { command: restore, backup } },
      postgresql: { create_replica_methods: ['basebackup_script', 'basebackup'], basebackup_script: { command: replicaScript } },
      echo,
    });
  });

  afterAll(async () => {
    await cluster?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('bootstraps from the restored backup: the backup’s table and system identifier', async () => {
    const primary = await healthyPrimary(cluster);
    expect(await query(primary, `SELECT note FROM ${TABLE} WHERE id = 1`)).toEqual([{ note: 'from the backup' }]);
    const [row] = await query<{ id: string }>(primary, 'SELECT system_identifier::text AS id FROM pg_control_system()');
    expect(row!.id).toBe(sourceSystemId);
    const init = await apiJson<{ members: unknown[] }>(primary, '/cluster');
    expect(init.members).toHaveLength(2);
    // Writable, with the cluster's roles created after the restore (the test connects with the configured password).
    await query(primary, `INSERT INTO ${TABLE} VALUES (2, 'written after the restore')`);
    // The superuser was trusted on the agent's local address only until its password was set.
    const hba = readFileSync(join(primary.dataDir, 'pg_hba.conf'), 'utf8');
    expect(hba).toContain('host all all 127.0.0.1/32 md5');
    expect(hba).not.toMatch(/^host\s.*\strust\s*$/m);
  });

  it('a replica is created by the custom script; with the script failing, a new member falls back to basebackup', async () => {
    const primary = await healthyPrimary(cluster);
    const replica = cluster.members.find((m) => m !== primary)!;
    expect(markers(join(work, 'owned'))).toEqual([`${replica.dataDir} ran`]);
    await waitForRow(replica, TABLE, 2);

    writeFileSync(join(work, 'owned', 'fail-replica-script'), '');
    const added = await cluster.addMember();
    await waitForStreaming(cluster, primary).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${tail(added)}`);
    });
    expect(markers(join(work, 'owned'))).toEqual([`${replica.dataDir} ran`, `${added.dataDir} failed`]);
    await waitForRow(added, TABLE, 2);
    expect(await tryQuery(added, 'SELECT pg_is_in_recovery() AS r')).toEqual([{ r: true }]);
  });
});

describe(`a running cluster turned into a standby cluster on ${DCS}`, () => {
  const SLOT = 'standby_copy';
  const PROBE = 'turn_probe';
  let scriptDir: string;
  let source: LocalCluster;
  let target: LocalCluster;

  const patchConfig = async (member: MemberHandle, body: unknown) => {
    const res = await api(member, 'PATCH', '/config', body);
    expect(res.status, res.text).toBe(200);
  };
  const role = async (member: MemberHandle) => ((await member.status()) ?? {})['role'];

  beforeAll(async () => {
    scriptDir = mkdtempSync(join(tmpdir(), 'pgha-turn-'));
    chmodSync(scriptDir, 0o755);
    const callback = script(join(scriptDir, 'callback.sh'), 'echo "$*" >> "$HOME/callbacks.log"');
    const callbacks = { on_start: callback, on_role_change: callback };
    source = await startLocalCluster({ members: 1, dcs: DCS, scope: 'turn-source', timing: TIMING, dynamic: { slots: { [SLOT]: { type: 'physical' } } }, postgresql: { callbacks }, echo });
    const primary = await source.waitForPrimary(WAIT_MS);
    await query(primary, `CREATE TABLE ${PROBE} (id bigserial PRIMARY KEY, note text)`);
    await query(primary, `INSERT INTO ${PROBE} (note) VALUES ('on the source')`);
    target = await startLocalCluster({
      dcs: DCS,
      members: 1,
      scope: 'turn-target',
      timing: TIMING,
      dynamic: { standby_cluster: { host: '127.0.0.1', port: primary.pgPort, primary_slot_name: SLOT } },
      echo,
    });
  });

  afterAll(async () => {
    await target?.stop();
    await source?.stop();
    if (scriptDir) rmSync(scriptDir, { recursive: true, force: true });
  });

  it('the source’s primary demotes into a standby leader following the promoted copy', async () => {
    const old = source.members[0]!;
    const copy = target.members[0]!;
    await waitFor('the copy streaming from the source as its standby leader', async () =>
      (await role(copy)) === 'standby_leader' && (await replicationStates(old)).get(copy.name) === 'streaming', WAIT_MS, 250,
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics([source, target])}`);
    });
    await waitForRow(copy, PROBE, 1);

    // The copy becomes a cluster of its own; right away (nothing written on the source since),
    // the source is told to follow it.
    await patchConfig(copy, { standby_cluster: null });
    expect((await target.waitForPrimary(WAIT_MS)).name).toBe(copy.name);
    await patchConfig(old, { standby_cluster: { host: '127.0.0.1', port: copy.pgPort } });

    await waitFor(`${old.name} running as the standby leader`, async () => (await role(old)) === 'standby_leader' && (await old.status())?.['state'] === 'running', WAIT_MS, 250)
      .catch((e: unknown) => {
        throw new Error(`${(e as Error).message}\n${diagnostics([source, target])}`);
      });
    expect(old.output()).toContain('cannot be a real primary in standby cluster');
    expect(await tryQuery(old, 'SELECT pg_is_in_recovery() AS r')).toEqual([{ r: true }]);
    const [row] = await query<{ id: string }>(copy, `INSERT INTO ${PROBE} (note) VALUES ('on the promoted copy') RETURNING id`);
    await waitForRow(old, PROBE, Number(row!.id)).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics([source, target])}`);
    });
    expect(await tryQuery(old, `INSERT INTO ${PROBE} (note) VALUES ('must fail')`)).toBeNull();
    const callbacks = readFileSync(join(old.dataDir, '..', 'callbacks.log'), 'utf8').split('\n');
    expect(callbacks).toContain('on_start master turn-source');
    expect(callbacks).toContain('on_role_change standby_leader turn-source');
  });
});
