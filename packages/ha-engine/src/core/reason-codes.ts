/**
 * The reason codes: one stable, typed name for every outcome of the rules table, beside the
 * sentence Patroni logs for it. The sentence is for people and stays Patroni's word for word
 * (users and tests grep it); the code is for programs (`GET /decisions`, `pghactl explain`,
 * `pgha_decisions_total{code}`), and stays the same when a sentence carries names or numbers.
 *
 * Two sentences may share a code's wording and still differ in code (`no action. I am (pg0), the
 * leader with the lock` is `leader.renewed`, `switchover.scheduled` or `switchover.cleared`), and
 * a code belongs to a rule outcome or to a guard's `otherwise` (an action that did not succeed
 * replaces the decision's reason and code: `race.lost`).
 *
 * Contract: every code here is documented in docs/decisions.md (a unit test checks both ways).
 * Renaming a code breaks dashboards and alerts: add a new one instead.
 */
import type { RuleName } from './decide.js';

export interface ReasonCodeEntry {
  /** The rows of the rules table (or `dcs-unavailable`) whose outcomes or guards use the code. */
  readonly rules: readonly RuleName[];
  /** Patroni's sentence, `<...>` standing for what varies; what may follow it is not shown. */
  readonly sentence: string;
  /** What happened, in words. */
  readonly meaning: string;
}

export const REASON_CODES = {
  // ---- the DCS could not be read --------------------------------------------------------
  'dcs.unavailable': { rules: ['dcs-unavailable', 'empty-data-directory', 'lock-free'], sentence: 'DCS is not accessible', meaning: 'the DCS could not be read (or a race call failed); a replica carries on as it is' },
  'dcs.unavailable.lease-valid': { rules: ['dcs-unavailable'], sentence: 'DCS is not accessible; continue to run as a leader while the leader lock is valid (<n> seconds left)', meaning: 'the DCS is unreachable and the primary keeps running until its lease may have expired' },
  'dcs.unavailable.demote': { rules: ['dcs-unavailable', 'lock-free'], sentence: 'demoting self because DCS is not accessible and I was a leader', meaning: 'the DCS is unreachable past the lease: the primary demotes to read-only' },
  'failsafe.checking': { rules: ['dcs-unavailable'], sentence: 'DCS is not accessible; checking the failsafe topology', meaning: 'failsafe mode: asking every member of the failsafe topology to acknowledge this primary' },
  'failsafe.leader-kept': { rules: ['dcs-unavailable'], sentence: 'continue to run as a leader because failsafe mode is enabled and all members are accessible', meaning: 'failsafe mode: every member acknowledged this primary, it keeps running without the DCS' },
  // ---- a background action runs -----------------------------------------------------------
  'long-action.lock-renewed': { rules: ['long-action'], sentence: 'updated leader lock during <action>', meaning: 'the lock holder renewed its lock while a background action runs' },
  'long-action.renew-failed': { rules: ['long-action'], sentence: '<action> in progress; failed to update leader lock in DCS', meaning: 'the renewal during a background action failed with an error' },
  'long-action.in-progress': { rules: ['long-action'], sentence: '<action> in progress', meaning: 'a background action runs; nothing else is decided meanwhile' },
  'long-action.lost-before-promote': { rules: ['long-action'], sentence: 'lost leader before promote', meaning: 'the lock was lost while promoting: the promotion is aborted and the server demoted' },
  'long-action.lost-lock': { rules: ['long-action'], sentence: 'lost leader lock during <action>', meaning: 'a primary lost the lock during a background action and demotes at once' },
  // ---- data directory and system identifier -----------------------------------------------
  'postgres.unknown': { rules: ['postgres-unknown'], sentence: 'Error communicating with PostgreSQL. Will try again later', meaning: 'the state of PostgreSQL could not be read' },
  'bootstrap.initialized': { rules: ['after-bootstrap'], sentence: 'initialized a new cluster', meaning: 'our bootstrap succeeded: the system ID is recorded and the lock taken' },
  'bootstrap.failed': { rules: ['after-bootstrap'], sentence: 'removing initialize key after failed attempt to bootstrap the cluster', meaning: 'our bootstrap failed: the initialize key is given back and the agent exits' },
  'bootstrap.watchdog-failed': { rules: ['after-bootstrap'], sentence: 'Cancelling bootstrap because watchdog activation failed', meaning: 'the required watchdog could not be activated after the bootstrap' },
  'bootstrap.sysid-write-failed': { rules: ['after-bootstrap'], sentence: 'failed to write the system ID to the initialize key', meaning: 'the system ID could not be recorded; retried next cycle' },
  'bootstrap.lock-failed': { rules: ['after-bootstrap'], sentence: 'failed to acquire the leader lock after bootstrap', meaning: 'someone else holds the lock after our bootstrap' },
  'bootstrap.cancel-failed': { rules: ['after-bootstrap', 'empty-data-directory'], sentence: 'failed to remove the initialize key after a failed bootstrap', meaning: 'the initialize key of a failed bootstrap could not be removed' },
  'bootstrap.release-lock': { rules: ['empty-data-directory'], sentence: 'released leader key voluntarily as data dir empty and currently leader', meaning: 'the lock holder has an empty data directory: it gives the lock up' },
  'bootstrap.clone': { rules: ['empty-data-directory'], sentence: "trying to bootstrap from <leader|replica> '<member>'", meaning: 'a new member clones from the leader (or a clonefrom member)' },
  'bootstrap.wait-for-leader': { rules: ['empty-data-directory'], sentence: 'waiting for leader to bootstrap', meaning: 'a new member may not bootstrap (nofailover, no watchdog, initialize taken) and waits' },
  'bootstrap.new-cluster': { rules: ['empty-data-directory'], sentence: 'trying to bootstrap a new cluster', meaning: 'no cluster yet: race for the initialize key, then initdb' },
  'bootstrap.initialize-lost': { rules: ['empty-data-directory'], sentence: 'failed to acquire initialize lock', meaning: 'another member won the initialize race' },
  'bootstrap.standby-leader': { rules: ['empty-data-directory'], sentence: 'trying to bootstrap a new standby leader', meaning: 'a new standby cluster: race for initialize, then clone the remote primary' },
  'bootstrap.standby-failed': { rules: ['empty-data-directory'], sentence: 'removing initialize key after failed attempt to bootstrap the standby cluster', meaning: 'the clone of the remote primary failed: initialize is given back' },
  'sysid.invalid': { rules: ['invalid-system-id'], sentence: 'data dir for the cluster is not empty, but system ID is invalid; consider doing reinitialize', meaning: 'the data directory has no readable system ID' },
  'sysid.mismatch': { rules: ['system-id-mismatch'], sentence: 'system ID mismatch, node <name> belongs to a different cluster: <expected> != <found>', meaning: 'the data directory belongs to another cluster: the agent exits' },
  'sysid.uninitialized-replica': { rules: ['uninitialized-replica'], sentence: 'No initialize key in DCS and PostgreSQL is running as replica, aborting start', meaning: 'no initialize key while running as a replica: start the primary first' },
  // ---- the lock holder ------------------------------------------------------------------------
  'leader.renewed': { rules: ['leader-with-lock'], sentence: 'no action. I am (<name>), the leader with the lock', meaning: 'the leader renewed its lock; nothing else to do' },
  'leader.promote': { rules: ['leader-with-lock'], sentence: 'promoted self to leader because I had the session lock', meaning: 'we hold the lock as a replica: promote' },
  'leader.renew-lost': { rules: ['leader-with-lock'], sentence: 'demoted self because failed to update leader lock in DCS', meaning: 'the renewal was refused (the lock is someone else\'s): demote at once' },
  'leader.renew-error': { rules: ['leader-with-lock'], sentence: 'failed to update leader lock in DCS; continue to run as primary while the leader lock is valid', meaning: 'the renewal failed with an error: keep serving until the safety deadline' },
  'leader.renew-failed-not-promoting': { rules: ['leader-with-lock', 'standby-leader'], sentence: 'not promoting because failed to update leader lock in DCS', meaning: 'the renewal before a promotion failed' },
  'lock.renew-failed': { rules: ['restart-requested', 'postgres-down', 'standby-leader-down', 'primary-in-standby-cluster'], sentence: 'failed to update leader lock in DCS', meaning: 'the lock holder could not renew before acting' },
  'leader.starting': { rules: ['primary-starting'], sentence: 'PostgreSQL is still starting up, <n> seconds until timeout', meaning: 'our crashed primary restarts, within primary_start_timeout' },
  'leader.starting-lock-lost': { rules: ['primary-starting'], sentence: 'stopped PostgreSQL while starting up because leader key was lost', meaning: 'the lock was lost while the primary restarts' },
  'leader.start-timeout': { rules: ['primary-starting', 'postgres-down'], sentence: 'stopped PostgreSQL because of startup timeout', meaning: 'primary_start_timeout ran out and another member can take over: stop and release' },
  'leader.start-timeout-no-failover': { rules: ['primary-starting', 'postgres-down'], sentence: 'primary start has timed out, but continuing to wait because failover is not possible', meaning: 'primary_start_timeout ran out but no member can take over' },
  'failover.checking': { rules: ['primary-starting', 'postgres-down'], sentence: 'checking whether a failover is possible', meaning: 'asking the other members for their positions (first phase of a two-phase decision)' },
  'recover.failover-after-crash': { rules: ['postgres-down'], sentence: 'stopped PostgreSQL to fail over after a crash', meaning: 'primary_start_timeout 0: the crashed primary gives the lock to a healthy member' },
  'recover.primary': { rules: ['postgres-down'], sentence: 'starting primary after failure', meaning: 'the lock holder restarts its crashed primary in place' },
  'recover.readonly-with-lock': { rules: ['postgres-down'], sentence: 'starting as readonly because i had the session lock', meaning: 'the lock holder was a replica: start read-only, the next cycle promotes' },
  'recover.secondary': { rules: ['postgres-down'], sentence: 'starting as a secondary', meaning: 'PostgreSQL is down and we do not hold the lock: start as a replica' },
  // ---- switchover and manual failover, on the leader --------------------------------------
  'switchover.scheduled': { rules: ['leader-with-lock', 'standby-leader'], sentence: 'no action. I am (<name>), the leader with the lock', meaning: 'a scheduled switchover waits for its time' },
  'switchover.cleared': { rules: ['leader-with-lock', 'standby-leader'], sentence: 'no action. I am (<name>), the leader with the lock', meaning: 'a switchover or failover request is not possible or stale and is deleted (the notes say why)' },
  'switchover.checking': { rules: ['leader-with-lock', 'standby-leader'], sentence: '<switchover|manual failover>: checking the candidates', meaning: 'asking the candidates for their positions before handing over' },
  'switchover.demoting': { rules: ['leader-with-lock', 'standby-leader'], sentence: '<switchover|manual failover>: demoting myself', meaning: 'a candidate can take over: the leader demotes gracefully and releases the lock' },
  // ---- another member holds the lock ----------------------------------------------------------
  'follow.leader': { rules: ['follower'], sentence: 'no action. I am (<name>), a secondary, and following a leader (<leader>)', meaning: 'a replica streams from whom it should' },
  'follow.repoint': { rules: ['follower'], sentence: 'changing primary_conninfo and restarting', meaning: 'a replica streams from the wrong member (or nobody) and is re-pointed' },
  'follow.demote': { rules: ['follower'], sentence: 'demoting self because I do not have the lock and I was a leader', meaning: 'a primary without the lock demotes and follows the lock holder' },
  'rejoin.rewind': { rules: ['follower', 'postgres-down'], sentence: 'running pg_rewind from <leader>', meaning: 'our timeline diverged from the leader\'s: pg_rewind' },
  'rejoin.reinitialize': { rules: ['follower', 'postgres-down'], sentence: 'reinitializing due to diverged timelines', meaning: 'diverged and pg_rewind is not possible: clone again' },
  'rejoin.wait-checkpoint': { rules: ['follower', 'postgres-down'], sentence: 'Waiting for checkpoint on <leader> before rewind', meaning: 'pg_rewind needs the new primary\'s checkpoint first' },
  // ---- a replica that does not stream (pgha's own; wal-receiver.ts) -------------------------
  'receiver.repoint': { rules: ['follower', 'standby-leader'], sentence: 'not streaming from <upstream> for <n> s: changing primary_conninfo to <upstream> and reloading', meaning: 'past replica_not_streaming_timeout, primary_conninfo names another upstream: it is rewritten (repair step 1)' },
  'receiver.restart': { rules: ['follower', 'standby-leader'], sentence: 'not streaming from <upstream> for <n> s: restarting the WAL receiver', meaning: 'still not streaming: the WAL receiver is restarted (repair step 2)' },
  'receiver.restart-postgres': { rules: ['follower', 'standby-leader'], sentence: 'not streaming from <upstream> for <n> s: no WAL receiver runs; restarting PostgreSQL', meaning: 'still not streaming and no WAL receiver process runs: PostgreSQL is restarted (repair step 2)' },
  'receiver.rewind': { rules: ['follower'], sentence: 'not streaming from <upstream> for <n> s: running pg_rewind from <leader>', meaning: 'still not streaming after the receiver restart: rejoin with pg_rewind (repair step 3)' },
  'receiver.reinitialize': { rules: ['follower'], sentence: 'not streaming from <upstream> for <n> s: reinitializing from <leader>', meaning: 'still not streaming, pg_rewind not possible and re-cloning allowed: rejoin by a new clone (repair step 3)' },
  'receiver.stuck': { rules: ['follower'], sentence: 'not streaming from <upstream> for <n> s: cannot rejoin automatically', meaning: 'still not streaming, and neither pg_rewind nor a re-clone is allowed: it stays unhealthy; the sequence starts again after the bound' },
  // ---- management requests ----------------------------------------------------------------
  'reinitialize.started': { rules: ['reinitialize-requested'], sentence: 'reinitialize started', meaning: 'POST /reinitialize: the data directory is cloned again' },
  'reinitialize.no-leader': { rules: ['reinitialize-requested'], sentence: 'Cluster has no leader, can not reinitialize', meaning: 'POST /reinitialize refused: nobody to clone from' },
  'reinitialize.is-leader': { rules: ['reinitialize-requested'], sentence: 'I am the leader, can not reinitialize', meaning: 'POST /reinitialize refused on the leader' },
  'restart.requested': { rules: ['restart-requested'], sentence: 'restarting PostgreSQL as requested', meaning: 'POST /restart: PostgreSQL restarts' },
  'restart.scheduled': { rules: ['restart-requested'], sentence: 'restarting PostgreSQL as scheduled at <schedule>', meaning: 'a restart scheduled through POST /restart fell due and its filters hold' },
  // ---- maintenance mode ----------------------------------------------------------------------
  'pause.leader': { rules: ['paused'], sentence: 'no action. I am (<name>), the leader with the lock', meaning: 'paused: the leader renews its lock and does nothing else' },
  'pause.follow': { rules: ['paused'], sentence: 'no action. I am (<name>), a secondary, and following a leader (<leader>)', meaning: 'paused: a replica does nothing' },
  'pause.no-leader': { rules: ['paused'], sentence: 'no action. I am (<name>)', meaning: 'paused and nobody holds the lock: nobody fails over' },
  'pause.release-not-running': { rules: ['paused'], sentence: 'removed leader lock because postgres is not running', meaning: 'paused: the lock holder\'s PostgreSQL is down, the lock is released' },
  'pause.postgres-not-running': { rules: ['paused'], sentence: 'postgres is not running', meaning: 'paused: PostgreSQL is down and is not started' },
  'pause.release-not-primary': { rules: ['paused'], sentence: 'removed leader lock because postgres is not running as primary', meaning: 'paused: the lock holder is not a primary, the lock is released' },
  'pause.renew-failed': { rules: ['paused'], sentence: 'continue to run as primary after failing to update leader lock in DCS', meaning: 'paused: the renewal failed; the primary keeps running' },
  'pause.acquired-lock': { rules: ['paused'], sentence: 'acquired session lock as a leader', meaning: 'paused: a primary without the lock takes the free lock' },
  'pause.primary-without-lock': { rules: ['paused'], sentence: 'continue to run as primary without lock', meaning: 'paused: a primary keeps running without the lock' },
  // ---- promotion refused by pre_promote ---------------------------------------------------
  'promote.cancelled': { rules: ['promote-cancelled'], sentence: 'Promotion cancelled because the pre-promote script failed', meaning: 'pre_promote refused the promotion: the lock is given back' },
  'promote.backoff': { rules: ['promote-backoff'], sentence: 'backoff: skip leader race after pre_promote script failure and releasing the lock voluntarily', meaning: 'for ttl after a refused promotion we do not race' },
  'watchdog.not-promoting': { rules: ['lock-free', 'leader-with-lock'], sentence: 'Not promoting self because watchdog could not be activated', meaning: 'the required watchdog could not be activated: no promotion, the lock is released' },
  'watchdog.demote': { rules: ['lock-free'], sentence: 'Demoting self because watchdog could not be activated', meaning: 'a primary that took the lock could not activate its required watchdog' },
  // ---- the leader race ----------------------------------------------------------------------
  'race.probing': { rules: ['lock-free'], sentence: 'asking the other members for their WAL positions before the leader race', meaning: 'the lock is free: probe the others before deciding (first phase)' },
  'race.won': { rules: ['lock-free'], sentence: 'promoted self to leader by acquiring session lock', meaning: 'we are the healthiest candidate, took the lock and promote' },
  'race.won.primary': { rules: ['lock-free'], sentence: 'acquired session lock as a leader', meaning: 'a running primary took the free lock' },
  'race.won.standby-leader': { rules: ['lock-free'], sentence: 'promoted self to a standby leader by acquiring session lock', meaning: 'standby cluster: we took the lock and follow the remote primary' },
  'race.lost': { rules: ['lock-free'], sentence: 'following new leader after trying and failing to obtain lock', meaning: 'we were a candidate but another member took the lock first' },
  'race.lost.demote': { rules: ['lock-free'], sentence: 'demoted self after trying and failing to obtain lock', meaning: 'a primary tried for the lock and lost: it demotes' },
  'race.lost.not-healthiest': { rules: ['lock-free'], sentence: 'following a different leader because i am not the healthiest node', meaning: 'a gate excluded us from the race (lag, timeline, a better member, not synchronous; see the candidate verdicts)' },
  'race.lost.not-allowed': { rules: ['lock-free'], sentence: 'following a different leader because I am not allowed to promote', meaning: 'nofailover (or failover_priority 0): we never race' },
  'race.demote.not-healthiest': { rules: ['lock-free'], sentence: 'demoting self because i am not the healthiest node', meaning: 'a primary without the lock may not take it (its timeline is behind): demote' },
  'race.demote.not-allowed': { rules: ['lock-free'], sentence: 'demoting self because I am not allowed to become primary', meaning: 'a nofailover primary without the lock demotes' },
  // ---- standby cluster ---------------------------------------------------------------------
  'standby.leader': { rules: ['standby-leader'], sentence: 'no action. I am (<name>), the standby leader with the lock', meaning: 'standby cluster: the standby leader renewed its lock and follows the remote primary' },
  'standby.demote-primary': { rules: ['primary-in-standby-cluster'], sentence: 'cannot be a real primary in standby cluster', meaning: 'the configuration made this a standby cluster: the primary becomes the standby leader' },
  'standby.start-with-lock': { rules: ['standby-leader-down'], sentence: 'starting as a standby leader because i had the session lock', meaning: 'the standby leader\'s PostgreSQL is down: start it following the remote primary' },
  // ---- synchronous replication guards ------------------------------------------------------
  'sync.key-lost': { rules: ['leader-with-lock'], sentence: 'Synchronous replication key updated by someone else', meaning: 'the sync key changed under us (CAS lost); retried next cycle' },
  'sync.ssn-failed': { rules: ['leader-with-lock'], sentence: 'failed to set synchronous_standby_names', meaning: 'synchronous_standby_names could not be set; retried next cycle' },
  'sync.promote-postponed': { rules: ['lock-free', 'leader-with-lock'], sentence: 'Postponing promotion because synchronous replication state was updated by somebody else', meaning: 'the sync key could not be claimed before promoting' },
  'sync.promote-postponed-ssn': { rules: ['lock-free', 'leader-with-lock'], sentence: 'Postponing promotion because synchronous_standby_names could not be set', meaning: 'synchronous_standby_names could not be set before promoting' },
} as const satisfies Record<string, ReasonCodeEntry>;

/** A stable reason code (`leader.renewed`, `race.lost.not-healthiest`, ...). */
export type ReasonCode = keyof typeof REASON_CODES;

/** Every code, in catalog order. */
export const REASON_CODE_LIST: readonly ReasonCode[] = Object.keys(REASON_CODES) as ReasonCode[];

export function isReasonCode(value: unknown): value is ReasonCode {
  return typeof value === 'string' && Object.hasOwn(REASON_CODES, value);
}

/**
 * Does `reason` read as the sentence of `code`? `<...>` matches anything, and what follows the
 * sentence (`; following nobody ...`) and Patroni's `PAUSE: ` prefix are allowed.
 */
export function reasonMatchesCode(code: ReasonCode, reason: string): boolean {
  const parts = REASON_CODES[code].sentence.split(/<[^>]*>/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^(PAUSE: )?${parts.join('.*')}`, 's').test(reason);
}
