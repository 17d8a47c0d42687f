/**
 * Where a replica's recovery settings go and what they are called in each server version, as
 * Patroni's config.py decides it. PostgreSQL 12+ reads them as parameters of postgresql.conf and
 * is a standby while `standby.signal` exists (a one-off archive recovery: `recovery.signal`);
 * PostgreSQL 10 and 11 read them from `recovery.conf` in the data directory, a standby when it
 * says `standby_mode = 'on'`, and refuse to start when postgresql.conf names them.
 */
import type { StandbySettings } from './config-files.js';

/** The first version whose recovery settings are postgresql.conf parameters (no recovery.conf). */
export const RECOVERY_GUCS_SINCE = 120000;

/** True when the server reads `recovery.conf` (PostgreSQL 10 and 11). */
export function usesRecoveryConf(serverVersion: number): boolean {
  return serverVersion < RECOVERY_GUCS_SINCE;
}

export interface RecoveryInput {
  standby: StandbySettings;
  /** A standby (streaming or restoring forever); false for a one-off archive recovery that ends. */
  standbyMode: boolean;
  serverVersion: number;
}

export interface RecoveryEntries {
  /** name → value in the version's names, sorted by name. */
  entries: Map<string, string>;
  /** What was renamed or dropped, for the log. */
  warnings: string[];
}

/**
 * The recovery settings to write for a server version. `recovery_conf` may be written for any
 * version (a DCS configuration outlives a major upgrade), so the names the version renamed are
 * translated: `trigger_file` (before 12) and `promote_trigger_file` (12 to 15, removed in 16);
 * `pause_at_recovery_target` (removed in 9.5) becomes `recovery_target_action`; `standby_mode` is
 * pgha's to set (recovery.conf) or means nothing (12+: the signal file decides). Pure.
 */
export function recoveryEntries(input: RecoveryInput): RecoveryEntries {
  const { standby, standbyMode, serverVersion } = input;
  const warnings: string[] = [];
  const recovery: Record<string, string> = { ...standby.recoveryConf };
  if (standby.primaryConninfo !== undefined) recovery.primary_conninfo = standby.primaryConninfo;
  if (standby.primarySlotName !== undefined) recovery.primary_slot_name = standby.primarySlotName;
  recovery.recovery_target_timeline ??= 'latest';

  const pause = recovery.pause_at_recovery_target;
  if (pause !== undefined) {
    delete recovery.pause_at_recovery_target;
    recovery.recovery_target_action ??= ['on', 'true', 'yes', '1'].includes(pause.trim().toLowerCase()) ? 'pause' : 'promote';
  }

  const trigger = recovery.trigger_file ?? recovery.promote_trigger_file;
  delete recovery.trigger_file;
  delete recovery.promote_trigger_file;
  if (trigger !== undefined) {
    if (serverVersion >= 160000) warnings.push(`recovery_conf: promote_trigger_file = ${trigger} is ignored: PostgreSQL 16 removed it`);
    else recovery[usesRecoveryConf(serverVersion) ? 'trigger_file' : 'promote_trigger_file'] = trigger;
  }

  delete recovery.standby_mode;
  if (usesRecoveryConf(serverVersion) && standbyMode) recovery.standby_mode = 'on';

  const entries = new Map(Object.keys(recovery).sort().map((name) => [name, recovery[name]!] as const));
  return { entries, warnings };
}
