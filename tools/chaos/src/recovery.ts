/** Waiting for the cluster to be whole again after a fault: one primary holding the lock, every other member streaming from it. */
import { query } from '@pgha/workload';
import { sleep } from '@pgha/primitives';
import { waitForPrimary, type ChaosMember } from './target.js';

/** walsender application_name → state on `primary`; empty when it does not answer. */
export async function streamingFrom(primary: ChaosMember): Promise<Set<string>> {
  const rows = await query<{ application_name: string; state: string }>(primary, 'SELECT application_name, state FROM pg_stat_replication', [], 2000).catch(() => []);
  return new Set(rows.filter((r) => r.state === 'streaming').map((r) => r.application_name));
}

export interface Recovery {
  primary: ChaosMember;
  /** Wall-clock ms when a primary held the lock again. */
  primaryAt: number;
  /** Wall-clock ms when every other member streamed from it, or null if not within the bound. */
  rejoinedAt: number | null;
  /** Members not streaming when the bound ran out. */
  missing: string[];
}

/**
 * Waits up to `primaryTimeoutMs` for a primary, then up to `rejoinTimeoutMs` for every other
 * member to stream from the primary of that moment (it may change while we wait). Throws only
 * when no primary appears.
 */
export async function waitForRecovery(members: readonly ChaosMember[], primaryTimeoutMs: number, rejoinTimeoutMs: number): Promise<Recovery> {
  let primary = await waitForPrimary(members, primaryTimeoutMs);
  const primaryAt = Date.now();
  const deadline = primaryAt + rejoinTimeoutMs;
  for (;;) {
    const streaming = await streamingFrom(primary);
    const missing = members.filter((m) => m !== primary && !streaming.has(m.name)).map((m) => m.name);
    if (missing.length === 0) return { primary, primaryAt, rejoinedAt: Date.now(), missing };
    if (Date.now() > deadline) return { primary, primaryAt, rejoinedAt: null, missing };
    await sleep(250);
    primary = await waitForPrimary(members, Math.max(1000, deadline - Date.now())).catch(() => primary);
  }
}
