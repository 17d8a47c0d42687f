/**
 * The gates of the candidate rules (candidate.ts, failover-readiness.ts): what keeps a member
 * from taking over, as a stable name. A `no` verdict names the gate that decided it; the words
 * beside it stay Patroni's (`My wal position exceeds maximum replication lag`).
 *
 * Contract: every gate is documented in docs/decisions.md (a unit test checks it).
 */
export const EXCLUSION_GATES = {
  paused: 'maintenance mode: nobody races for the lock',
  unreachable: 'its REST API did not answer (or answered without a WAL position)',
  'not-running': 'PostgreSQL is not running (its member state is not running or streaming)',
  starting: 'PostgreSQL is still starting up',
  nofailover: 'tagged nofailover, or failover_priority 0: never promoted',
  watchdog: 'its required watchdog is not usable',
  'not-synchronous': 'synchronous mode: not the last leader or one of its published synchronous standbys',
  quorum: 'quorum mode: not enough other listed standbys to vote for it',
  'lag-bytes': 'its WAL position is more than maximum_lag_on_failover bytes behind the last known primary position',
  'lag-time': 'its replay lag in time exceeds maximum_lag_on_failover given as a duration',
  'timeline-behind': 'its timeline is behind the cluster timeline (check_timeline)',
  'primary-alive': 'another member still runs as a primary',
  'behind-member': 'another candidate has a newer WAL position',
  'lower-priority': 'another candidate has the same WAL position and a higher failover_priority',
  'not-the-candidate': 'a switchover or failover names another member as the candidate',
  'former-leader': 'the former leader of a switchover races only when nobody else can take over',
  'no-candidates': 'nobody could take over (no member passes the gates)',
} as const;

export type ExclusionGate = keyof typeof EXCLUSION_GATES;

export const EXCLUSION_GATE_LIST: readonly ExclusionGate[] = Object.keys(EXCLUSION_GATES) as ExclusionGate[];
