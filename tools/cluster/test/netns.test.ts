/**
 * The namespace mode's parts: the nft rules a cut becomes (pure), the refusal a user without
 * the right to create namespaces gets, real namespaces with a real cut, and the link proxy's
 * byte stream under delay, jitter and loss.
 */
import { execFileSync } from 'node:child_process';
import { connect, createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createHostNetwork, hostRules, NetnsError, networkCuts, partitionCuts, startLinkProxy, type Host } from '../src/index.js';

const host = (index: number): Host => ({
  index, ns: `ns${index}`, veth: `v${index}`, address: `10.213.9.${index + 2}`,
  wrap: (command, args) => ({ command, args }), wrapAs: (_ids, command, args) => ({ command, args }),
});

describe('hostRules', () => {
  const [a, b, c] = [host(0), host(1), host(2)];
  const paths = [
    { client: a, target: b, port: 4001 }, // a's DCS link to b
    { client: c, target: b, port: 4002 }, // c's DCS link to b
    { client: null, target: a, port: 4003 }, // everyone's link to a's PostgreSQL
  ];
  it('a one-way cut a→b drops a\'s packets to b, to the proxies a uses to reach b, and a\'s bytes relayed to b', () => {
    const cuts = [{ from: a, to: b }];
    const onA = hostRules(a, cuts, paths, '10.213.9.1');
    const onB = hostRules(b, cuts, paths, '10.213.9.1');
    expect(onA).toContain('ip daddr 10.213.9.3 drop');
    expect(onA).toContain('ip daddr 10.213.9.1 tcp dport 4001 drop');
    expect(onA).not.toContain('4002');
    expect(onB).toContain('ip saddr 10.213.9.2 drop');
    expect(onB).toContain('ip saddr 10.213.9.1 tcp sport 4003 drop');
    expect(hostRules(c, cuts, paths, '10.213.9.1')).not.toContain('drop');
  });
  it('a path cut drops only the named proxy ports, in one direction', () => {
    const rules = hostRules(a, [], paths, '10.213.9.1', [{ host: a, ports: [4001], direction: 'out' }]);
    expect(rules.match(/drop/g)).toHaveLength(1);
    expect(rules).toContain('ip daddr 10.213.9.1 tcp dport 4001 drop');
  });
});

describe('partitionCuts', () => {
  const [a, b, c, d, e] = [host(0), host(1), host(2), host(3), host(4)];
  it('cuts every pair across the sides both ways, none within a side, and leaves unnamed hosts alone', () => {
    const cuts = partitionCuts([[a, b], [c, d]]);
    const pairs = cuts.map((x) => `${x.from.index}>${x.to.index}`).sort();
    expect(pairs).toEqual(['0>2', '0>3', '1>2', '1>3', '2>0', '2>1', '3>0', '3>1']);
    expect(cuts.some((x) => x.from === e || x.to === e)).toBe(false);
  });
  it('refuses a host on two sides', () => {
    expect(() => partitionCuts([[a, b], [b, c]])).toThrow(/on two sides/);
  });
  it('keeps a minority host\'s proxied link to its own side open and drops the ones across', () => {
    // a (a member) reaches DCS servers b (its side) and c (the other side) through proxies.
    const paths = [{ client: a, target: b, port: 4101 }, { client: a, target: c, port: 4102 }];
    const onA = hostRules(a, partitionCuts([[a, b], [c]]), paths, '10.213.9.1');
    expect(onA).toContain('ip daddr 10.213.9.1 tcp dport 4102 drop');
    expect(onA).not.toContain('4101');
  });
});

describe('createHostNetwork', () => {
  it('says clearly, with a stable code, when namespaces cannot be created', () => {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    let error: unknown;
    try {
      createHostNetwork({ hosts: 1, uid });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NetnsError);
    expect((error as NetnsError).code).toBe('NETNS_UNAVAILABLE');
    expect((error as Error).message).toMatch(/loopback mode/);
  });

  it('hosts reach each other until an nft cut, and teardown removes every namespace', () => {
    const network = createHostNetwork({ hosts: 2 });
    const reach = (from: Host, to: Host): boolean => {
      const run = from.wrap(process.execPath, ['-e', `const s=require('net').connect(${9}, '${to.address}');s.setTimeout(1500,()=>process.exit(2));s.on('error',e=>process.exit(e.code==='ECONNREFUSED'?0:1));s.on('connect',()=>process.exit(0))`]);
      try {
        execFileSync(run.command, run.args, { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    };
    try {
      const [a, b] = network.hosts as [Host, Host];
      const before = reach(a, b);
      const cuts = networkCuts(network, () => []);
      cuts.cut(a, b, { oneWay: true });
      const during = [reach(a, b), reach(b, a)];
      cuts.healAll();
      const after = reach(a, b);
      // Refused (nothing listens on port 9) is an answer: the packets got through.
      expect(before).toBe(true);
      expect(during).toEqual([false, false]);
      expect(after).toBe(true);
    } finally {
      network.teardown();
    }
    expect(execFileSync('ip', ['netns', 'list']).toString()).not.toContain(`pgha-${network.id}-`);
  });
});

describe('startLinkProxy', () => {
  it('delivers every byte in order through delay, jitter and loss', async () => {
    const server = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    let n = 0;
    const random = () => ((n = (n * 7 + 3) % 11) / 11);
    const proxy = await startLinkProxy({ listenHost: '127.0.0.1', targetHost: '127.0.0.1', targetPort: (server.address() as AddressInfo).port, random });
    proxy.shape({ delayMs: 5, jitterMs: 20, loss: 0.2, rtoMs: 30 });
    const sent = Array.from({ length: 50 }, (_, i) => `chunk-${i};`);
    const received = await new Promise<string>((resolve) => {
      const c = connect(proxy.port, '127.0.0.1');
      let got = '';
      c.on('data', (d) => {
        got += d.toString();
        if (got.length >= sent.join('').length) {
          c.end();
          resolve(got);
        }
      });
      c.on('connect', () => sent.forEach((s, i) => setTimeout(() => c.write(s), i)));
    });
    await proxy.close();
    server.close();
    expect(received).toBe(sent.join(''));
  });
});
