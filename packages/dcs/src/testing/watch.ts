/** Conformance: watch events for the keys that wake the HA loop, and unsubscribing. */
import { describe, expect, it } from 'vitest';
import { randomScope, sleep, type ContractContext } from './context.js';

export function describeWatchContract(ctx: ContractContext): void {
  const { make, recorder } = ctx;
  describe('watch', () => {
    it('wakes on leader acquire and release and on config writes by another member; unsubscribe stops it', async () => {
      const scope = randomScope();
      const watcher = await make({ scope, name: 'pg0' });
      const actor = await make({ scope, name: 'pg1' });
      const first = recorder(watcher);
      const second = recorder(watcher);
      // Let a watch that needs a round trip to start get established.
      await watcher.load();
      await sleep(200);

      let mark = first.events.length;
      expect(await actor.acquireLeader()).toBe(true);
      await first.waitFor('leader', mark);

      mark = first.events.length;
      expect(await actor.releaseLeader()).toBe(true);
      await first.waitFor('leader', mark);

      mark = first.events.length;
      expect(await actor.write('config', '{"loop_wait":10}', { kind: 'any' })).toBe(true);
      await first.waitFor('config', mark);

      first.stop();
      first.stop(); // idempotent
      const stoppedAt = first.events.length;
      const secondMark = second.events.length;
      expect(await actor.write('config', '{"loop_wait":5}', { kind: 'any' })).toBe(true);
      await second.waitFor('config', secondMark);
      await sleep(200);
      expect(first.events.length).toBe(stoppedAt);
      second.stop();
    });
  });
}
