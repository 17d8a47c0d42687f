/**
 * Builds what the REST API answers from: Patroni's GET /patroni body, from the engine's last
 * cycle and the controller's last state read. Done once per cycle, never per request.
 */
import { synchronousRoleOf } from '@pgha/dcs';
import type { EngineStatus } from '@pgha/ha-engine';
import type { PostgresState } from '@pgha/postgres-controller';
import type { ApiSnapshot, PatroniStatus, SalvageEntry } from '@pgha/rest-api';

export interface Identity {
  name: string;
  scope: string;
  /** The Patroni version pgha is compatible with, as peers and patronictl read it. */
  patroniVersion: string;
  pghaVersion: string;
  tags: Record<string, unknown>;
}

export function buildApiSnapshot(engine: EngineStatus, pg: PostgresState | null, me: Identity, now: number, salvage: readonly SalvageEntry[] = []): ApiSnapshot {
  const primary = engine.role === 'primary' || engine.role === 'master';
  // Patroni 4 says `primary` where 3.x said `master` (the dialect the engine chose this cycle).
  const role = primary ? (engine.patroniDialect === 4 ? 'primary' : 'master') : (engine.role as PatroniStatus['role']);
  const status: PatroniStatus = {
    state: engine.state,
    role,
    patroni: { version: me.patroniVersion, scope: me.scope, name: me.name },
  };
  const running = pg?.running && pg.accepting;
  if (running && pg) {
    if (pg.postmasterStartTime) status.postmaster_start_time = pg.postmasterStartTime;
    if (pg.serverVersion) status.server_version = pg.serverVersion;
    if (pg.role === 'primary') {
      status.xlog = { location: pg.currentLsn ?? 0 };
    } else {
      status.xlog = {
        received_location: pg.receivedLsn ?? 0,
        replayed_location: pg.replayedLsn ?? 0,
        replayed_timestamp: pg.replayedTimestamp,
        paused: pg.replayPaused,
      };
      if (pg.replicationState) status.replication_state = pg.replicationState;
    }
    if (pg.timeline !== null) status.timeline = pg.timeline;
    if (pg.replication.length > 0) {
      status.replication = pg.replication.map((r) => ({
        usename: r.usename ?? '',
        application_name: r.applicationName,
        client_addr: r.clientAddr ?? '',
        state: r.state ?? '',
        sync_state: r.syncState ?? '',
        sync_priority: r.syncPriority ?? 0,
      }));
    }
    if (pg.systemIdentifier) status.database_system_identifier = pg.systemIdentifier;
    if (pg.pendingRestart) {
      status.pending_restart = true;
      if (Object.keys(pg.pendingRestartReason).length > 0) status.pending_restart_reason = pg.pendingRestartReason;
    }
  }
  if (engine.cluster && engine.cluster.leader === null) status.cluster_unlocked = true;
  if (engine.dcsLastSeen !== null) status.dcs_last_seen = Math.floor(engine.dcsLastSeen / 1000);
  status.tags = me.tags;
  // The pause in effect: a broken config key leaves the engine (and so this flag) on the last good value.
  if (engine.config.pause) status.pause = true;
  if (engine.failsafeActive) status.failsafe_mode_is_active = true;
  // Patroni 4.1: a replica in the /sync set is a `quorum_standby` in quorum mode, else a `sync_standby`.
  const syncRole = status.role === 'replica' && engine.cluster ? synchronousRoleOf(engine.cluster, me.name) : null;
  if (syncRole) status[syncRole] = true;
  if (engine.lastReason) status.last_reason = engine.lastReason;
  return {
    status,
    hasLock: engine.holdsLock,
    cluster: engine.cluster,
    lastCycleAt: engine.lastCycleAt ?? now,
    ttl: engine.config.ttl,
    maximumLagOnFailover: engine.config.maximumLagOnFailover,
    salvage,
    configProblem: engine.configProblem,
    configInEffect: engine.dynamicConfig?.value ?? null,
    patroniDialect: engine.patroniDialect,
    notStreaming: engine.notStreaming ? { upstream: engine.notStreaming.upstream, seconds: Math.round(engine.notStreaming.forMs / 1000), unhealthy: engine.notStreaming.unhealthy } : null,
  };
}
