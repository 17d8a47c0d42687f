// Reason codes (issue #18): every code is documented in docs/decisions.md and used by a rule;
// the codes the engine gives go with Patroni's sentences; the simulated cluster's decision
// records carry the candidates' verdicts.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Simulation } from '@pgha/ha-engine/testing';
import { createSimulation } from '@pgha/ha-engine/testing';
import type { Action, CycleReport } from '../src/index.js';
import { createDecisionLog, EXCLUSION_GATE_LIST, REASON_CODE_LIST, reasonMatchesCode } from '../src/index.js';
import { gateTable, reasonCodeTable, section } from './fixtures/decision-docs.js';
import { memoryDcs } from './fixtures/memory-dcs.js';

const root = join(import.meta.dirname, '..', '..', '..');
const doc = readFileSync(join(root, 'docs', 'decisions.md'), 'utf8');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [readFileSync(join(dir, e.name), 'utf8')] : [],
  );
}

describe('docs/decisions.md', () => {
  it('has the reason code table as the catalog renders it', () => {
    expect(section(doc, 'reason-codes')).toBe(reasonCodeTable());
  });

  it('has the gate table as the catalog renders it', () => {
    expect(section(doc, 'gates')).toBe(gateTable());
  });

  it('names every code and every gate', () => {
    for (const code of REASON_CODE_LIST) expect(doc, code).toContain(`\`${code}\``);
    for (const gate of EXCLUSION_GATE_LIST) expect(doc, gate).toContain(`\`${gate}\``);
  });
});

describe('the catalogs', () => {
  const core = sources(join(import.meta.dirname, '..', 'src', 'core')).filter((s) => !s.includes('export const REASON_CODES') && !s.includes('export const EXCLUSION_GATES'));

  it('every code is given by some rule or guard (no dead codes)', () => {
    const unused = REASON_CODE_LIST.filter((code) => !core.some((s) => s.includes(`'${code}'`)));
    expect(unused).toEqual([]);
  });

  it('every gate is used by a candidate rule', () => {
    const unused = EXCLUSION_GATE_LIST.filter((gate) => !core.some((s) => s.includes(`'${gate}'`)));
    expect(unused).toEqual([]);
  });

  it('sentences match their code, with placeholders, suffixes and the PAUSE prefix', () => {
    expect(reasonMatchesCode('leader.renewed', 'no action. I am (pg0), the leader with the lock')).toBe(true);
    expect(reasonMatchesCode('leader.renewed', 'PAUSE: no action. I am (pg0), the leader with the lock')).toBe(true);
    expect(reasonMatchesCode('follow.leader', 'no action. I am (pg1), a secondary, and following a leader (pg0); not streaming from it because x')).toBe(true);
    expect(reasonMatchesCode('race.won', 'following new leader after trying and failing to obtain lock')).toBe(false);
  });
});

let sim: Simulation | null = null;
afterEach(async () => {
  await sim?.close();
  sim = null;
});

/** Every guard's code and sentence in `actions`, nested ones too. */
function guards(actions: readonly Action[]): { code: string; reason: string }[] {
  return actions.flatMap((a) => {
    const g = a as { otherwise?: { code: string; reason: string; actions: Action[] }; onError?: { code: string; reason: string; actions: Action[] } };
    return [g.otherwise, g.onError].flatMap((o) => (o ? [{ code: o.code, reason: o.reason }, ...guards(o.actions)] : []));
  });
}

describe('a simulated cluster: four members, one nofailover, the primary crashes', () => {
  it('gives codes that go with their sentences, and records the race with one verdict per candidate', async () => {
    const logs = new Map(['pg0', 'pg1', 'pg2', 'pg3'].map((n) => [n, createDecisionLog(50)]));
    let dcs: ReturnType<typeof memoryDcs> | null = null;
    sim = await createSimulation({
      members: ['pg0', { name: 'pg1', tags: { nofailover: true } }, { name: 'pg2', tags: { failover_priority: 2 } }, 'pg3'],
      store: (name, clock) => {
        dcs ??= memoryDcs(clock);
        return dcs.store(name);
      },
      settings: { bootstrapDcs: { ttl: 30, loop_wait: 10, retry_timeout: 10 } },
    });
    const s = sim;
    for (const node of s.nodes.values()) {
      node.loop.onCycle((r: CycleReport) => logs.get(node.name)?.record(r.snapshot, r.decision, { reason: r.reason, code: r.code, actions: r.actions }));
    }
    const streaming = () => [...s.world.servers.values()].filter((x) => x.running && x.role === 'replica' && x.streaming).length;
    await s.runUntil(() => s.writablePrimaries().length === 1 && streaming() === 3, 80);
    const old = s.writablePrimaries()[0] as string;
    expect(old).toBe('pg0');
    s.write(4096);
    await s.step();
    await s.step();
    await s.crash(old);
    await s.runUntil(() => s.writablePrimaries().length === 1 && s.writablePrimaries()[0] !== old, 80);
    expect(s.writablePrimaries()).toEqual(['pg2']);

    const reports = [...s.nodes.values()].flatMap((n) => n.reports);
    const mismatched = reports.filter((r) => !reasonMatchesCode(r.code, r.reason)).map((r) => `${r.code}: ${r.reason}`);
    const guardMismatch = reports.flatMap((r) => guards(r.decision.actions)).filter((g) => !reasonMatchesCode(g.code as never, g.reason));
    expect(mismatched).toEqual([]);
    expect(guardMismatch).toEqual([]);
    expect(new Set(reports.map((r) => r.code))).toContain('race.won');

    const won = logs.get('pg2')?.list().find((r) => r.code === 'race.won');
    expect(won?.candidates?.map((v) => [v.member, v.verdict, v.gate])).toEqual([
      // pg0's member key expired with its session: it is no candidate any more.
      ['pg2', 'chosen', null],
      ['pg1', 'excluded', 'nofailover'],
      ['pg3', 'excluded', 'lower-priority'],
    ]);
    expect(won?.facts).toMatchObject({ lock: 'free', leader: null, role: 'replica', tags: { failover_priority: 2 } });
    const refused = logs.get('pg1')?.list().find((r) => r.rule === 'lock-free');
    expect(refused?.code).toBe('race.lost.not-allowed');
    expect(refused?.candidates?.find((v) => v.member === 'pg1')).toMatchObject({ verdict: 'excluded', gate: 'nofailover', detail: 'I am not allowed to promote' });
    // Steady cycles collapse: the leader's renewals are one record with a count.
    const renewals = logs.get('pg0')?.list().filter((r) => r.code === 'leader.renewed') ?? [];
    expect(renewals.some((r) => r.count > 1)).toBe(true);
  });
});
