/**
 * End-to-end, two agents with the same name (pgha issue 15). The seed manual adds a node by
 * copying another's YAML and editing it; a copy whose `name` was left as it was used to share the
 * other's keys: each renewal moved the leader key onto the newcomer's lease or session (two
 * primaries), or, with an empty data directory, the newcomer deleted the real leader's key.
 *
 * On one running three-member cluster per store, a fourth agent is started from a copy of a
 * member's YAML with only its ports and data directory changed: once with the leader's name (and
 * an empty data directory), once with a replica's. Each must exit non-zero with one line naming
 * the other member's api_url and conn_url, and leave the cluster as it was: same leader, the
 * leader key on the same lease or session, the member keys unchanged, earlier rows still there
 * and the primary writable.
 *
 * PGHA_E2E_ECHO=1 shows the agents' logs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDcsDriver, startLocalCluster, type DcsDriver, type DcsKind, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { WAIT_MS, healthyPrimary, tail } from './support/cluster-checks.js';
import { query } from '@pgha/workload';

const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
const TABLE = 'duplicate_name_probe';
/** Bound on how long a refused duplicate may take to exit (its check waits at most ttl + loop_wait). */
const EXIT_WAIT_MS = 60_000;
const echo = process.env['PGHA_E2E_ECHO'] === '1';

/** What must not change: the leader key's value and owner, and each member key's owner and addresses. */
interface KeyView {
  leader: { value: string; owner: string | null } | null;
  members: Record<string, { owner: string | null; conn_url: unknown; api_url: unknown }>;
}

async function keyView(observer: DcsDriver): Promise<KeyView> {
  const { nodes } = await observer.load();
  const leader = nodes.get('leader');
  const members: KeyView['members'] = {};
  for (const [key, node] of nodes) {
    if (!key.startsWith('members/')) continue;
    const data = JSON.parse(node.value) as Record<string, unknown>;
    members[key.slice('members/'.length)] = { owner: node.owner ?? null, conn_url: data['conn_url'], api_url: data['api_url'] };
  }
  return { leader: leader ? { value: leader.value, owner: leader.owner ?? null } : null, members };
}

/** The agent's exit code, or 'running' if it is still up after `timeoutMs`. */
async function exitOf(member: MemberHandle, timeoutMs: number): Promise<number | null | 'running'> {
  const agent = member.agent;
  if (!agent) throw new Error(`${member.name} was never started`);
  let timer: NodeJS.Timeout | undefined;
  const running = new Promise<'running'>((resolve) => (timer = setTimeout(() => resolve('running'), timeoutMs)));
  try {
    return await Promise.race([agent.exited, running]);
  } finally {
    clearTimeout(timer);
  }
}

describe.each(['etcd', 'zookeeper'] as const satisfies readonly DcsKind[])('a second agent with an existing member name, on %s', (dcs) => {
  let cluster: LocalCluster;
  let observer: DcsDriver;
  let primary: MemberHandle;
  let before: KeyView;

  beforeAll(async () => {
    cluster = await startLocalCluster({ members: 3, dcs, scope: `duplicate-name-${dcs}`, timing: TIMING, echo });
    primary = await healthyPrimary(cluster);
    await query(primary, `CREATE TABLE ${TABLE} (id int PRIMARY KEY, note text)`);
    await query(primary, `INSERT INTO ${TABLE} VALUES (1, 'written before any duplicate started')`);
    observer = await openDcsDriver(cluster, 'e2e-observer');
    before = await keyView(observer);
  });

  afterAll(async () => {
    await observer?.close();
    await cluster?.stop();
  });

  /** Starts a copy of `original`'s YAML under its name, and checks the copy is refused and changes nothing. */
  async function refusedDuplicateOf(original: MemberHandle, writeId: number): Promise<void> {
    const duplicate = await cluster.addMember(undefined, { name: original.name });
    const code = await exitOf(duplicate, EXIT_WAIT_MS);
    const output = duplicate.output();
    expect(code, `the duplicate ${original.name} should exit non-zero; its output:\n${tail(duplicate)}`).not.toBe('running');
    expect(code).not.toBe(0);
    const refusals = output.split('\n').filter((line) => line.includes('refusing to start'));
    expect(refusals, output).toHaveLength(1);
    expect(refusals[0]).toContain(`another agent named ${original.name}`);
    expect(refusals[0]).toContain(`api_url ${original.apiUrl}/patroni`);
    expect(refusals[0]).toContain(`conn_url postgres://127.0.0.1:${original.pgPort}/postgres`);

    const leader = await cluster.waitForPrimary(WAIT_MS);
    expect(leader.name).toBe(primary.name);
    expect(await keyView(observer)).toEqual(before);
    const rows = await query<{ id: number }>(leader, `SELECT id FROM ${TABLE} ORDER BY id`);
    expect(rows.map((r) => r.id)).toContain(1);
    await query(leader, `INSERT INTO ${TABLE} VALUES ($1, 'written after the duplicate was refused')`, [writeId]);
    expect((await query<{ n: number }>(leader, `SELECT count(*)::int AS n FROM ${TABLE} WHERE id = $1`, [writeId]))[0]?.n).toBe(1);
  }

  it("refuses a copy of the leader's YAML that kept its name, with an empty data directory, and leaves the leader and its keys alone", async () => {
    expect(before.leader).toEqual({ value: primary.name, owner: before.members[primary.name]?.owner });
    await refusedDuplicateOf(primary, 2);
  });

  it("refuses a copy that kept a replica's name, and leaves the replica's member key alone", async () => {
    const replica = cluster.members.find((m) => m.index < 3 && m.name !== primary.name)!;
    await refusedDuplicateOf(replica, 3);
  });
});
