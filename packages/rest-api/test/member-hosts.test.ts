// Issue 16: the cache of member host names behind allowlist_include_members.
import { describe, expect, it } from 'vitest';
import { createMemberHosts } from '../src/member-hosts.js';

function rig(answers: Record<string, string[] | Error>) {
  let now = 0;
  const lookups: string[] = [];
  const warnings: string[] = [];
  const infos: string[] = [];
  const hosts = createMemberHosts({
    lookup: async (host) => {
      lookups.push(host);
      const a = answers[host];
      if (a instanceof Error || a === undefined) throw a ?? new Error(`ENOTFOUND ${host}`);
      return a;
    },
    now: () => now,
    warn: (m) => warnings.push(m),
    info: (m) => infos.push(m),
    refreshMs: 60_000,
    retryMs: 10_000,
    maxNames: 3,
  });
  return { hosts, lookups, warnings, infos, advance: (ms: number) => (now += ms) };
}

describe('member host names', () => {
  it('looks a name up once per refresh interval, and forgets names no member uses', async () => {
    const r = rig({ 'pg1.example': ['10.0.0.1', '10.0.0.1', 'fd00::1'] });
    await r.hosts.track(['PG1.example']);
    expect(r.hosts.addresses('pg1.example')).toEqual(['10.0.0.1', 'fd00::1']);
    await r.hosts.track(['pg1.example']);
    r.advance(59_000);
    await r.hosts.track(['pg1.example']);
    expect(r.lookups).toEqual(['pg1.example']);
    r.advance(1_000);
    await r.hosts.track(['pg1.example']);
    expect(r.lookups).toHaveLength(2);
    const before = r.hosts.generation();
    await r.hosts.track([]);
    expect(r.hosts.addresses('pg1.example')).toEqual([]);
    expect(r.hosts.generation()).not.toBe(before);
  });

  it('keeps the last addresses when a name stops resolving, says so once, and says when it resolves again', async () => {
    const answers: Record<string, string[] | Error> = { 'pg1.example': ['10.0.0.1'] };
    const r = rig(answers);
    await r.hosts.track(['pg1.example']);
    answers['pg1.example'] = new Error('getaddrinfo EAI_AGAIN pg1.example');
    r.advance(60_000);
    await r.hosts.track(['pg1.example']);
    r.advance(10_000);
    await r.hosts.track(['pg1.example']);
    expect(r.hosts.addresses('pg1.example')).toEqual(['10.0.0.1']);
    expect(r.warnings).toEqual([
      'restapi.allowlist_include_members: cannot resolve member host pg1.example: getaddrinfo EAI_AGAIN pg1.example; keeping its last addresses 10.0.0.1',
    ]);
    answers['pg1.example'] = ['10.0.0.2'];
    r.advance(10_000);
    await r.hosts.track(['pg1.example']);
    expect(r.hosts.addresses('pg1.example')).toEqual(['10.0.0.2']);
    expect(r.infos).toEqual(['restapi.allowlist_include_members: member host pg1.example resolves again (10.0.0.2)']);
  });

  it('resolves at most maxNames names, and says so', async () => {
    const r = rig({ a: ['10.0.0.1'], b: ['10.0.0.2'], c: ['10.0.0.3'], d: ['10.0.0.4'] });
    await r.hosts.track(['a', 'b', 'c', 'd']);
    await r.hosts.track(['a', 'b', 'c', 'd']);
    expect(r.lookups).toEqual(['a', 'b', 'c']);
    expect(r.hosts.addresses('d')).toEqual([]);
    expect(r.warnings).toEqual(['restapi.allowlist_include_members: 4 host names; only the first 3 are resolved']);
  });
});
