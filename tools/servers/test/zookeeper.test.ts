import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startZooKeeper, type ZooKeeperEnsemble } from '../src/zookeeper.js';

describe('startZooKeeper, standalone', () => {
  let zk: ZooKeeperEnsemble;
  beforeAll(async () => {
    zk = await startZooKeeper();
  });
  afterAll(async () => {
    await zk?.stop();
  });

  it('serves on loopback and answers four-letter words', async () => {
    expect(zk.connectString).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(await zk.fourLetter(0, 'ruok')).toBe('imok');
    expect(await zk.fourLetter(0, 'srvr')).toMatch(/Mode: standalone/);
    expect(await zk.leaderIndex()).toBe(0);
  });

  it('restarts a stopped member on the same port and data', async () => {
    await zk.stopMember(0);
    expect(zk.members[0]!.process).toBeNull();
    await expect(zk.fourLetter(0, 'ruok', 500)).rejects.toThrow();
    await zk.startMember(0);
    expect(await zk.fourLetter(0, 'ruok')).toBe('imok');
  });

  it('freezes and thaws a member', async () => {
    zk.freeze(0);
    try {
      await expect(zk.fourLetter(0, 'ruok', 500)).rejects.toThrow(/no answer/);
    } finally {
      zk.thaw(0);
    }
    expect(await zk.fourLetter(0, 'ruok')).toBe('imok');
  });

  it('removes its data directory on stop', async () => {
    const { existsSync } = await import('node:fs');
    const dir = zk.members[0]!.dataDir;
    expect(existsSync(dir)).toBe(true);
    await zk.stop();
    expect(existsSync(dir)).toBe(false);
    await zk.stop(); // idempotent
  });
});

describe('startZooKeeper, ensemble of 3', () => {
  let zk: ZooKeeperEnsemble;
  beforeAll(async () => {
    zk = await startZooKeeper({ members: 3 });
  });
  afterAll(async () => {
    await zk?.stop();
  });

  it('elects one leader and two followers', async () => {
    expect(zk.connectString.split(',')).toHaveLength(3);
    const modes = await Promise.all([0, 1, 2].map((i) => zk.fourLetter(i, 'srvr')));
    expect(modes.filter((m) => /Mode: leader/.test(m))).toHaveLength(1);
    expect(modes.filter((m) => /Mode: follower/.test(m))).toHaveLength(2);
    expect(await zk.leaderIndex()).toBe(modes.findIndex((m) => /Mode: leader/.test(m)));
  });

  it('elects a new leader when the leader is killed, and takes the old one back as a member', async () => {
    const old = await zk.leaderIndex();
    await zk.stopMember(old, { kill: true });
    let next = -1;
    const until = Date.now() + 30_000;
    while (next === -1 && Date.now() < until) {
      next = await zk.leaderIndex();
      if (next === -1) await new Promise((r) => setTimeout(r, 200));
    }
    expect(next).not.toBe(-1);
    expect(next).not.toBe(old);
    await zk.startMember(old);
    expect(await zk.fourLetter(old, 'srvr')).toMatch(/Mode: (leader|follower)/);
  });
});
