/**
 * The member key this agent writes each cycle (Patroni's `touch_member`), built from the
 * snapshot: identity, PostgreSQL state and role, WAL position and timeline, tags.
 */
import type { MemberData, MemberRole } from '@pgha/dcs';
import type { LongAction } from './actions.js';
import { checkpointAfterPromotePending } from './rejoin.js';
import { scheduledRestartView } from './scheduled-restart.js';
import type { LongActionKind, Snapshot } from './snapshot.js';

/** The member state Patroni shows while a background action runs. */
const STATE_WHILE: Partial<Record<LongActionKind, string>> = {
  bootstrap: 'initializing new cluster',
  create_replica: 'creating replica',
  reinitialize: 'creating replica',
  start: 'starting',
  restart: 'restarting',
  stop: 'stopping',
};

/** The member state after a background action failed while PostgreSQL is down. */
const STATE_AFTER_FAILED: Partial<Record<LongActionKind, string>> = {
  bootstrap: 'initdb failed',
  start: 'start failed',
  restart: 'restart failed',
  stop: 'stop failed',
};

/** Builds the member data; `started` is the background action this cycle's decision starts, if any. */
export function buildMemberData(s: Snapshot, started: LongAction | null): MemberData {
  const { local, me } = s;
  const runningKind = started?.kind ?? s.running?.kind;
  let state = local.state;
  const during = runningKind ? STATE_WHILE[runningKind] : undefined;
  if (during) state = during;
  else if (!local.running && s.lastAction && !s.lastAction.ok) state = STATE_AFTER_FAILED[s.lastAction.kind] ?? state;

  const data: MemberData = {
    conn_url: me.connUrl,
    api_url: me.apiUrl,
    state,
    role: memberRole(s),
    version: me.version,
    tags: { ...me.tags },
    extra: {},
  };
  if (me.proxyUrl) data.proxy_url = me.proxyUrl;
  if (local.running && !local.unknown) {
    if (local.lsn !== null) data.xlog_location = local.lsn;
    if (local.timeline !== null) data.timeline = local.timeline;
    if (local.role === 'replica') {
      data.replication_state = local.streaming ? 'streaming' : 'in archive recovery';
      if (local.receivedLsn != null) data.receive_lsn = local.receivedLsn;
      if (local.replayedLsn != null) data.replay_lsn = local.replayedLsn;
    }
  }
  // As Patroni: only while it is false, so that members rewinding from us wait for it.
  const holdsLock = !('error' in s.cluster) && s.cluster.leader?.name === me.name;
  if (checkpointAfterPromotePending({ holdsLock, local })) data.checkpoint_after_promote = false;
  if (local.pendingRestart) data.pending_restart = true;
  if (s.intents.scheduledRestart) data.scheduled_restart = scheduledRestartView(s.intents.scheduledRestart);
  if (s.config.pause) data.pause = true;
  // pgha's own field (Patroni's readers ignore unknown ones): a member that the configuration
  // requires to have a watchdog, and has none, never promotes; `pghactl list` shows why.
  if (!s.watchdogHealthy) data.extra['watchdog_failed'] = true;
  return data;
}

/** The role the member key shows (the restart filters read it too, scheduled-restart.ts). */
export function memberRole(s: Snapshot): MemberRole {
  const { local } = s;
  if (local.dataDirectory === 'empty') return 'uninitialized';
  if (local.role === 'primary') {
    // A stopped primary that still holds the lock is restarting after a crash, not demoted.
    const holder = !('error' in s.cluster) && s.cluster.leader?.name === s.me.name;
    return local.running || holder ? 'primary' : 'demoted';
  }
  // The lock holder of a standby cluster replicates from the remote primary.
  const holder = !('error' in s.cluster) && s.cluster.leader?.name === s.me.name;
  return holder && s.config.standbyCluster && local.running ? 'standby_leader' : 'replica';
}
