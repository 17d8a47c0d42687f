/**
 * Which DCS changes wake the HA loop before its next `loop_wait` tick. A change of the keys a
 * decision reads first (the leader lock, the dynamic configuration, a switchover request) is
 * acted on at once; any other change waits for the tick, so a cluster of many members does not
 * run a cycle on every member for every member's key update.
 */
import type { WatchEvent } from '@pgha/dcs';

/** The keys whose change wakes every member at once. */
const WAKE_KEYS: ReadonlySet<string> = new Set(['leader', 'config', 'failover']);

/**
 * True when `event` should start a cycle now. The lock holder also wakes when a member key is
 * created: a member (re)joining needs its replication slot on the primary before it can stream,
 * and would otherwise wait for the leader's next loop_wait (its WAL receiver retrying meanwhile).
 * A `*` event (the driver cannot tell which keys changed) does not wake: the tick reads anyway.
 */
export function wakesLoop(event: Pick<WatchEvent, 'key' | 'created'>, facts: { holdsLock: boolean }): boolean {
  if (WAKE_KEYS.has(event.key)) return true;
  return event.created === true && event.key.startsWith('members/') && facts.holdsLock;
}
