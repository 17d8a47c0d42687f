/**
 * Adapts `@pgha/postgres-controller` to the engine's `PostgresPort`. The engine speaks of members
 * (a name and a `conn_url`); the controller of hosts and ports. This adapter translates, and
 * keeps the controller's last full state for the REST API (server version, replication rows),
 * so answering the API needs no query of its own.
 */
import { ourWalPosition, type FollowTarget, type LocalPostgresState, type PostgresPort, type SlotPlan, type SlotSyncReport, type StartOptions, type StopOptions, type SynchronousStandbySetting } from '@pgha/ha-engine';
import { parseConnUrl, type ClusterConfig, type TimelineHistory, type Versioned } from '@pgha/dcs';
import {
  type PostgresController,
  type PostgresState,
  type ReplicationSource,
  type SynchronousStandbySpec,
} from '@pgha/postgres-controller';

/** The member's `conn_url` as host and port, named for logs. */
export function replicationSource(target: FollowTarget): ReplicationSource {
  const address = target.connUrl ? parseConnUrl(target.connUrl) : null;
  if (!address) throw new Error(`member ${target.name} has no usable conn_url (${JSON.stringify(target.connUrl)})`);
  const source: ReplicationSource = { ...address, name: target.name, ...(target.slotName ? { slotName: target.slotName } : {}) };
  if (target.remote) {
    const { slotName, recoveryConf, createReplicaMethods } = target.remote;
    source.remote = { slotName, recoveryConf, ...(createReplicaMethods ? { createReplicaMethods } : {}) };
  }
  if (target.noStream) source.noStream = true;
  return source;
}

/**
 * PostgreSQL's "requested WAL segment ... has already been removed": the WAL a slot's restart
 * position needs is no longer on this server. pg_replication_slot_advance reports it with the
 * SQLSTATE of any missing file (58P01), so the message is what tells it apart.
 */
export function isWalRemoved(e: unknown): boolean {
  return e instanceof Error && /has already been removed/.test(e.message);
}

export interface PostgresPortAdapter extends PostgresPort {
  /** The controller's last state read (null before the first cycle). */
  lastState(): PostgresState | null;
}

function dataDirectoryOf(pg: PostgresState): LocalPostgresState['dataDirectory'] {
  switch (pg.dataDirectory) {
    case 'missing':
    case 'empty':
      return 'empty';
    case 'initialized':
      return pg.systemIdentifier ? 'initialized' : 'invalid';
    default:
      return 'invalid';
  }
}

export interface PostgresPortAdapterOptions {
  /** Carries out the engine's `applyDynamicConfig` (dynamic-config.ts); absent, the port has none. */
  applyDynamicConfig?: (config: Versioned<ClusterConfig>) => Promise<boolean>;
}

export function adaptPostgresController(controller: PostgresController, options: PostgresPortAdapterOptions = {}): PostgresPortAdapter {
  let last: PostgresState | null = null;
  /** The member the server was last told to follow (the controller knows hosts, not names). */
  let following: string | null = null;

  const describe = async (): Promise<LocalPostgresState> => {
    const pg = await controller.state();
    last = pg;
    const role = pg.role === 'unknown' ? null : pg.role;
    // Which of the positions read counts as ours is the engine's rule (core/wal-position.ts).
    const lsn = ourWalPosition(pg);
    // A replica adopted after an agent restart: the controller read its upstream back from the
    // configuration; the member name is what it was configured with.
    if (following === null && role === 'replica' && pg.following?.name) following = pg.following.name;
    const state: LocalPostgresState = {
      dataDirectory: dataDirectoryOf(pg),
      systemId: pg.systemIdentifier,
      running: pg.running,
      state: pg.lifecycle,
      role,
      timeline: pg.timeline,
      checkpointTimeline: pg.checkpointTimeline,
      lsn,
      receivedLsn: pg.receivedLsn,
      replayedLsn: pg.replayedLsn,
      following: role === 'replica' ? following : null,
      streaming: pg.replicationState === 'streaming',
      ...(pg.walReceiver
        ? {
            walReceiver: {
              status: pg.walReceiver.status,
              pid: pg.walReceiver.pid,
              senderHost: pg.upstream?.host ?? null,
              senderPort: pg.upstream?.port ?? null,
              conninfoHost: pg.walReceiver.conninfoHost,
              conninfoPort: pg.walReceiver.conninfoPort,
              lastMsgReceiptTime: pg.walReceiver.lastMsgReceiptTime,
            },
          }
        : {}),
      pendingRestart: pg.pendingRestart,
      serverVersion: pg.serverVersion,
      rewindPossible: pg.rewindPossible ?? true,
      replication: pg.replication.map((r) => ({
        name: r.applicationName,
        state: r.state,
        syncState: r.syncState,
        flushLsn: r.flushLsn,
        replayLsn: r.replayLsn,
      })),
      synchronousStandbyNames: pg.synchronousStandbyNames,
      slots: pg.slots.map((x) => ({
        name: x.name,
        type: x.type,
        database: x.database,
        plugin: x.plugin,
        restartLsn: x.restartLsn,
        confirmedFlushLsn: x.confirmedFlushLsn,
      })),
    };
    if (pg.dataDirectory === 'unusable') state.unknown = pg.dataDirectoryError ?? 'the data directory cannot be used';
    return state;
  };

  return {
    lastState: () => last,
    state: () => describe(),
    async bootstrap(signal) {
      following = null;
      await controller.bootstrap({ signal });
    },
    async createReplica(source, signal) {
      await controller.createReplica({ source: replicationSource(source), signal });
    },
    async start(options: StartOptions, signal) {
      const follow = options.role === 'replica' && options.follow ? replicationSource(options.follow) : null;
      await controller.start({ role: options.role, follow, timeoutMs: options.timeoutMs, signal });
      following = options.role === 'replica' ? (options.follow?.name ?? null) : null;
    },
    async stop(options: StopOptions, signal) {
      await controller.stop({ mode: options.mode, ...(options.checkpoint ? { checkpoint: true } : {}), ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}), signal });
    },
    async fence() {
      await controller.fence();
    },
    async restart(signal) {
      await controller.restart({ signal });
    },
    async promote(signal) {
      await controller.promote({ signal });
      following = null;
    },
    async checkpoint() {
      // When one is due (after a promotion) is the engine's rule (core/rejoin.ts).
      await controller.checkpoint();
    },
    async syncSlots(plan: SlotPlan): Promise<SlotSyncReport> {
      const failures: string[] = [];
      const walRemoved: string[] = [];
      const attempt = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
        try {
          await fn();
        } catch (e) {
          failures.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
        }
      };
      for (const name of plan.drop) await attempt(`drop slot ${name}`, () => controller.dropSlot(name));
      for (const slot of plan.create) {
        await attempt(`create slot ${slot.name}`, () =>
          slot.type === 'logical'
            ? controller.createLogicalSlot(slot.name, slot.database ?? 'postgres', slot.plugin ?? 'pgoutput')
            : controller.createPhysicalSlot(slot.name),
        );
      }
      for (const a of plan.advance) {
        await attempt(`advance slot ${a.name}`, async () => {
          try {
            await controller.advanceSlot(a.name, a.database, a.lsn);
          } catch (e) {
            // Mapped to a typed outcome; what to do about it (drop the copy) is the engine's rule.
            if (isWalRemoved(e)) walRemoved.push(a.name);
            throw e;
          }
        });
      }
      return { failures, walRemoved };
    },
    async copyLogicalSlots(source, slots) {
      const states = await controller.readLogicalSlotStates(replicationSource(source), slots);
      await controller.installSlotStates(states);
    },
    async restartWalReceiver(pid) {
      return controller.restartWalReceiver(pid);
    },
    async follow(target, signal) {
      await controller.follow(target ? replicationSource(target) : null, { signal });
      following = target?.name ?? null;
    },
    async rewind(source, signal) {
      // pg_rewind needs a cleanly stopped data directory; the controller recovers a crashed one.
      await controller.stop({ mode: 'fast', signal });
      await controller.rewind(replicationSource(source), { signal });
      following = source.name;
    },
    async removeDataDirectory(signal) {
      if (signal.aborted) throw new Error('removing the data directory was cancelled');
      await controller.removeDataDirectory();
    },
    async setSynchronousStandbyNames(setting: SynchronousStandbySetting | null) {
      if (!setting) {
        await controller.setSynchronousStandbyNames(null);
        return;
      }
      // A single standby is written bare (`pg1`), as Patroni does; several as `N (a,b)`.
      const spec: SynchronousStandbySpec =
        setting.kind === 'any'
          ? { kind: 'any', count: setting.count, names: setting.names }
          : setting.names.length <= 1
            ? { kind: 'list', names: setting.names }
            : { kind: 'priority', count: setting.count, names: setting.names };
      await controller.setSynchronousStandbyNames(spec);
    },
    ...(options.applyDynamicConfig ? { applyDynamicConfig: options.applyDynamicConfig } : {}),
    async timelineHistory(): Promise<TimelineHistory> {
      const entries = await controller.readTimelineHistory();
      return entries.map((e) => ({ timeline: e.timeline, lsn: e.lsn, reason: e.reason, timestamp: e.timestamp }));
    },
  };
}
