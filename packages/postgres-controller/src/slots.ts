/**
 * Replication slots on the local server: the physical slots of the members that stream from it,
 * and the logical slots copied from the primary (their state files, slot-state.ts) and advanced
 * as the primary's move on. The engine decides which; this only does it.
 */
import type { ReplicationSlot, ReplicationSource } from './contract.js';
import type { ControllerContext } from './controller-context.js';
import { PostgresError, PostgresErrorCode, describeError } from './errors.js';
import { formatLsn } from './lsn.js';
import { sleep } from './process-runner.js';
import { OLDEST_WAL_FILE_QUERY, READ_SLOT_STATES_QUERY, installSlotState, walStillHere, type SlotState } from './slot-state.js';
import { withConnection } from './sql.js';
import { parseSlots } from './state-query.js';

export class Slots {
  private readonly ctx: ControllerContext;

  constructor(ctx: ControllerContext) {
    this.ctx = ctx;
  }

  async list(): Promise<ReplicationSlot[]> {
    const rows = await this.ctx.session.query(`SELECT slot_name, slot_type, active, restart_lsn::text AS restart_lsn,
      confirmed_flush_lsn::text AS confirmed_flush_lsn, database, plugin FROM pg_catalog.pg_replication_slots WHERE NOT temporary ORDER BY slot_name`);
    return parseSlots(rows);
  }

  async createPhysical(name: string): Promise<boolean> {
    const rows = await this.ctx.session.query(
      `SELECT pg_catalog.pg_create_physical_replication_slot($1, true) FROM (SELECT 1) s
        WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1)`,
      [name],
    );
    if (rows.length > 0) this.ctx.logger.info({ slot: name }, 'created physical replication slot');
    return rows.length > 0;
  }

  async drop(name: string): Promise<boolean> {
    const { session, logger } = this.ctx;
    for (let attempt = 0; attempt < 20; attempt++) {
      await session.query('SELECT pg_catalog.pg_terminate_backend(active_pid) FROM pg_catalog.pg_replication_slots WHERE slot_name = $1 AND active', [name]);
      try {
        const rows = await session.query<{ dropped: boolean }>(
          `SELECT pg_catalog.pg_drop_replication_slot(slot_name) IS NULL AS dropped FROM pg_catalog.pg_replication_slots WHERE slot_name = $1`,
          [name],
        );
        if (rows.length > 0) logger.info({ slot: name }, 'dropped replication slot');
        return rows.length > 0;
      } catch (e) {
        // Still active: the terminated walsender has not exited yet.
        if (!/is active/.test(describeError(e)) || attempt === 19) throw e;
        await sleep(100);
      }
    }
    return false;
  }

  async createLogical(name: string, database: string, plugin: string): Promise<boolean> {
    const { settings, logger } = this.ctx;
    // A logical slot belongs to a database: create it from a connection to that database.
    const rows = await withConnection({ ...settings.localTarget(), database }, settings.timeouts.queryMs * 2, async (c) =>
      (
        await c.query(
          `SELECT pg_catalog.pg_create_logical_replication_slot($1, $2) FROM (SELECT 1) s
            WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1)`,
          [name, plugin],
        )
      ).rows,
    );
    if (rows.length > 0) logger.info({ slot: name, database, plugin }, 'created logical replication slot');
    return rows.length > 0;
  }

  async advance(name: string, database: string | null, lsn: number): Promise<void> {
    const { settings } = this.ctx;
    // Advancing a logical slot decodes WAL, which needs a connection to the slot's database.
    const target = { ...settings.localTarget(), ...(database ? { database } : {}) };
    await withConnection(target, settings.timeouts.queryMs * 4, (c) => c.query('SELECT pg_catalog.pg_replication_slot_advance($1, $2::pg_lsn)', [name, formatLsn(lsn)]));
  }

  async readLogicalStates(source: ReplicationSource, names: readonly string[]): Promise<SlotState[]> {
    const { settings } = this.ctx;
    // pg_read_binary_file of a data directory file needs a superuser.
    const rows = await withConnection(settings.sourceTarget(source, 'superuser'), settings.timeouts.queryMs * 2, async (c) =>
      (await c.query<{ slot_name: string; state: Buffer; restart_file: string }>(READ_SLOT_STATES_QUERY, [names])).rows,
    );
    const states = rows.map((r) => ({ name: r.slot_name, state: new Uint8Array(r.state), restartFile: r.restart_file }));
    const missing = names.filter((n) => !states.some((x) => x.name === n));
    if (missing.length > 0) throw new Error(`${source.name ?? `${source.host}:${source.port}`} has no logical slot ${missing.join(', ')} (or is not a primary)`);
    return states;
  }

  async installStates(states: readonly SlotState[]): Promise<void> {
    const { settings, session, logger, runAs } = this.ctx;
    // A copy whose restart position is older than this server's WAL could never be advanced nor
    // decoded: refuse it (no pointless restart); it is copied once the primary's slot moves on.
    const [row] = await session.query<{ oldest: string | null }>(OLDEST_WAL_FILE_QUERY);
    const stale = states.filter((slot) => !walStillHere(slot.restartFile, row?.oldest ?? null));
    if (stale.length > 0) {
      throw new PostgresError(
        PostgresErrorCode.SlotCopyNotYet,
        `not copying logical slot ${stale.map((x) => `${x.name} (restart WAL ${x.restartFile})`).join(', ')}: this server's oldest WAL file is ${row?.oldest ?? 'none'}; waiting for the primary's slot to move on`,
      );
    }
    for (const slot of states) {
      await installSlotState(settings.dataDir, slot, runAs);
      logger.info({ slot: slot.name }, 'copied logical replication slot state from the primary; a restart loads it');
    }
  }
}
