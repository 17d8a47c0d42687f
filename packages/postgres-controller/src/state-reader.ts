/**
 * Reads what the server is: running, one query (state-query.ts) for the role, LSNs, timeline,
 * replication and slots; stopped, pg_control. Also the data directory and the timeline history.
 * It changes nothing but the lifecycle's `starting` → `running`, once the server answers.
 */
import { ControllerPart } from './controller-part.js';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DataDirectoryInfo, PostgresState, TimelineHistoryEntry } from './contract.js';
import { stoppedPosition, type ControlData } from './control-data.js';
import { describeError } from './errors.js';
import { inspectDataDirectoryPath } from './files.js';
import { parseLsn } from './lsn.js';
import { conninfoAddress, parseReplication, parseSlots, pendingRestart, stateQuery, walReceiverUpstream, type StateRow } from './state-query.js';

/** Where primary_conninfo points, as the state's fields. */
function conninfoFields(conninfo: string | null | undefined): { conninfoHost: string | null; conninfoPort: number | null } {
  const { host, port } = conninfoAddress(conninfo);
  return { conninfoHost: host, conninfoPort: port };
}
import { historyFileName, parseTimelineHistory } from './timeline-history.js';

export class StateReader extends ControllerPart {
  /** pg_control as last read, for the control file's mtime: a stopped server is polled every cycle. */
  private controlCache: { mtime: number; control: ControlData } | undefined;

  async state(): Promise<PostgresState> {
    const { settings, state, session, runAs } = this.ctx;
    const pm = this.postmaster.current;
    const base: PostgresState = {
      lifecycle: state.lifecycle,
      dataDirectory: 'unusable',
      running: pm !== null,
      postmasterPid: pm?.pid ?? null,
      accepting: false,
      role: pm ? state.role : 'unknown',
      following: state.role === 'replica' ? state.upstream : null,
      serverVersion: null,
      systemIdentifier: null,
      postmasterStartTime: null,
      timeline: null,
      stoppedLsn: null,
      checkpointTimeline: null,
      rewindPossible: null,
      currentLsn: null,
      receivedLsn: null,
      replayedLsn: null,
      replayedTimestamp: null,
      replayPaused: false,
      replicationState: null,
      walReceiver: null,
      upstream: null,
      replication: [],
      slots: [],
      synchronousStandbyNames: null,
      pendingRestart: false,
      pendingRestartReason: {},
    };
    try {
      base.dataDirectory = await inspectDataDirectoryPath(settings.dataDir, runAs);
    } catch (e) {
      base.dataDirectoryError = describeError(e);
    }
    if (!pm) return this.stoppedState(base);
    let row: StateRow | undefined;
    try {
      const commandLine = this.config.written?.commandLine ?? new Map<string, string>();
      const query = stateQuery(await this.programs.serverVersion());
      [row] = await session.query<StateRow & Record<string, unknown>>(query, [[...commandLine.keys()]]);
    } catch (e) {
      return { ...base, queryError: describeError(e) };
    }
    if (!row) return { ...base, queryError: 'the state query returned no row' };
    if (state.lifecycle === 'starting' && state.busy === null) state.lifecycle = 'running';
    const inRecovery = row.in_recovery;
    const receiver = row.wal_receiver;
    const checkpointTimeline = Number(row.checkpoint_timeline ?? 0);
    // Read again: a configuration may have been written while the query ran.
    const written = this.config.written;
    const reason = written ? pendingRestart(row.settings, written.file, written.commandLine, row.in_recovery ? 'replica' : 'primary') : {};
    return {
      ...base,
      lifecycle: state.lifecycle,
      accepting: true,
      role: inRecovery ? 'replica' : 'primary',
      serverVersion: Number(row.server_version),
      systemIdentifier: row.system_identifier,
      postmasterStartTime: row.postmaster_start_time,
      timeline: inRecovery ? Math.max(checkpointTimeline, receiver?.received_tli ?? 0) || null : Number(row.primary_timeline),
      checkpointTimeline: checkpointTimeline || null,
      currentLsn: parseLsn(row.current_lsn),
      receivedLsn: parseLsn(row.received_lsn),
      replayedLsn: parseLsn(row.replayed_lsn),
      replayedTimestamp: row.replayed_timestamp,
      replayPaused: row.replay_paused === true,
      replicationState: inRecovery ? (receiver?.status === 'streaming' ? 'streaming' : 'in archive recovery') : null,
      walReceiver: inRecovery
        ? {
            pid: receiver?.pid ?? null,
            status: receiver?.status ?? null,
            lastMsgReceiptTime: receiver?.last_msg_receipt_time ?? null,
            ...conninfoFields(row.primary_conninfo),
          }
        : null,
      upstream: receiver
        ? { ...walReceiverUpstream(receiver), slotName: receiver.slot_name ?? null, receivedTimeline: receiver.received_tli ?? null }
        : null,
      replication: parseReplication(row.replication),
      slots: parseSlots(row.slots),
      synchronousStandbyNames: row.synchronous_standby_names,
      rewindPossible: row.rewind_possible,
      pendingRestart: Object.keys(reason).length > 0,
      pendingRestartReason: reason,
    };
  }

  /** A stopped server's state from pg_control, re-read only when the control file changed. */
  private async stoppedState(base: PostgresState): Promise<PostgresState> {
    if (base.dataDirectory !== 'initialized') return base;
    let control: ControlData;
    try {
      const mtime = (await stat(join(this.ctx.settings.dataDir, 'global', 'pg_control'))).mtimeMs;
      if (this.controlCache?.mtime !== mtime) this.controlCache = { mtime, control: await this.programs.controlData() };
      control = this.controlCache.control;
    } catch (e) {
      return { ...base, dataDirectoryError: describeError(e) };
    }
    return { ...base, ...stoppedFacts(control) };
  }

  async inspectDataDirectory(): Promise<DataDirectoryInfo> {
    const { settings, runAs } = this.ctx;
    const kind = await inspectDataDirectoryPath(settings.dataDir, runAs);
    const info: DataDirectoryInfo = { kind, path: settings.dataDir, majorVersion: null, control: null, systemIdentifier: null };
    if (kind !== 'initialized') return info;
    const major = Number((await readFile(join(settings.dataDir, 'PG_VERSION'), 'utf8').catch(() => '')).trim());
    info.majorVersion = Number.isInteger(major) && major > 0 ? major : null;
    info.control = await this.programs.controlData();
    info.systemIdentifier = info.control.systemIdentifier;
    return info;
  }

  /** The history leading to `timeline` (default: the current one), from pg_wal's .history files. */
  async readTimelineHistory(timeline?: number): Promise<TimelineHistoryEntry[]> {
    let tli = timeline;
    if (tli === undefined) {
      const s = await this.state();
      tli = s.timeline ?? (await this.programs.controlData()).checkpointTimeline ?? 1;
    }
    if (tli <= 1) return [];
    const walDir = join(this.ctx.settings.dataDir, 'pg_wal');
    let content: string;
    let mtime: Date;
    try {
      const file = join(walDir, historyFileName(tli));
      content = await readFile(file, 'utf8');
      mtime = (await stat(file)).mtime;
    } catch {
      return [];
    }
    const entries: TimelineHistoryEntry[] = [];
    for (const entry of parseTimelineHistory(content)) {
      // The switch that ended timeline N created N+1.history: its mtime is when it happened.
      const next = await stat(join(walDir, historyFileName(entry.timeline + 1))).catch(() => null);
      entries.push({ ...entry, timestamp: (next?.mtime ?? mtime).toISOString() });
    }
    return entries;
  }
}

/**
 * What pg_control tells of a stopped server. A server that did not stop cleanly has no stopped
 * position (`stoppedPosition`): its latest checkpoint stands in.
 */
export function stoppedFacts(control: ControlData): Pick<PostgresState, 'role' | 'systemIdentifier' | 'timeline' | 'stoppedLsn' | 'checkpointTimeline' | 'rewindPossible'> {
  const replicaStates = ['shut down in recovery', 'in archive recovery'];
  const stopped = stoppedPosition(control);
  return {
    role: control.clusterState === null ? 'unknown' : replicaStates.includes(control.clusterState) ? 'replica' : 'primary',
    systemIdentifier: control.systemIdentifier,
    timeline: stopped?.timeline ?? control.checkpointTimeline,
    stoppedLsn: stopped?.lsn ?? control.checkpointLsn,
    checkpointTimeline: control.checkpointTimeline,
    rewindPossible: control.dataChecksums || control.walLogHints,
  };
}
