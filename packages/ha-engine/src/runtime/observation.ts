/**
 * What a cycle observes before deciding: the cluster from the DCS (and the configuration and
 * timing it carries), PostgreSQL's state, and on request the other members' answers — their
 * WAL positions for a leader race, their acknowledgements for a failsafe round. Every read is
 * bounded; a read that fails becomes data (`DcsUnavailable`, an `unknown` PostgreSQL state).
 */
import type { Cluster, ClusterConfig, DcsTiming, Versioned } from '@pgha/dcs';
import type { ProbeTarget } from '../core/candidate.js';
import type { LocalEngineSettings } from '../core/config.js';
import { DynamicConfigKeeper } from '../core/config-keeper.js';
import { dynamicConfigToApply } from '../core/dynamic-postgresql.js';
import type { DcsUnavailable, FailsafeAck, LocalPostgresState, PeerStatus } from '../core/snapshot.js';
import { earlyProbeTargets } from '../core/rules/race.js';
import type { Runtime } from './context.js';
import { dcsCall, dcsTimeoutMs } from './context.js';
import { errorMessage, withDeadline } from './deadline.js';
import type { FailsafeState } from './failsafe-state.js';
import type { LeaseGuard } from './lease-guard.js';
import { unreachable } from './peer-status.js';

/** Peer probes started before the decision asked for them (see `earlyProbe`). */
export interface EarlyProbe {
  targets: ProbeTarget[];
  results: Promise<PeerStatus[]>;
}

/** A little slack over a probe round's own deadline, which the probe is asked to keep. */
const PROBE_SLACK_MS = 500;

export class Observation {
  readonly #rt: Runtime;
  readonly #failsafe: FailsafeState;
  readonly #lease: LeaseGuard;
  readonly #configKeeper: DynamicConfigKeeper;
  #timing: DcsTiming | null = null;
  #lastLocal: LocalPostgresState | null = null;
  #lastCluster: Cluster | null = null;
  #dcsLastSeen: number | null = null;
  /** The `config` version PostgreSQL was last given successfully (core dynamicConfigToApply). */
  #appliedDynamicVersion: string | null = null;
  /** An apply still running past its deadline (a slow reload): no second one starts meanwhile. */
  #applying: Promise<void> | null = null;

  constructor(rt: Runtime, deps: { settings: LocalEngineSettings; failsafe: FailsafeState; lease: LeaseGuard }) {
    this.#rt = rt;
    this.#failsafe = deps.failsafe;
    this.#lease = deps.lease;
    this.#configKeeper = new DynamicConfigKeeper(deps.settings, rt.log);
  }

  get lastLocal(): LocalPostgresState | null {
    return this.#lastLocal;
  }

  get lastCluster(): Cluster | null {
    return this.#lastCluster;
  }

  /** Wall ms of the last successful DCS read. */
  get dcsLastSeen(): number | null {
    return this.#dcsLastSeen;
  }

  get configProblem(): string | null {
    return this.#configKeeper.problem;
  }

  get dynamicConfig(): Versioned<ClusterConfig> | null {
    return this.#configKeeper.inEffect;
  }

  async loadCluster(): Promise<Cluster | DcsUnavailable> {
    const rt = this.#rt;
    let cluster: Cluster;
    try {
      // Malformed values are already logged by the store and read as unknown.
      cluster = await dcsCall(rt, 'read the cluster', (o) => rt.store.loadCluster(o));
      this.#lastCluster = cluster;
      this.#failsafe.read(cluster);
      this.#dcsLastSeen = rt.clock.wallNow();
    } catch (e) {
      rt.log.error({ err: errorMessage(e) }, 'Error communicating with DCS');
      return { error: errorMessage(e), failsafe: this.#failsafe.lastTopology };
    }
    await this.#applyDynamicConfig(cluster);
    return cluster;
  }

  /**
   * Gives PostgreSQL the stored dynamic configuration when this read shows a version it was not
   * given yet, before the cycle decides on it. Bounded like a DCS call; one at a time.
   */
  async #applyDynamicConfig(cluster: Cluster): Promise<void> {
    const rt = this.#rt;
    const apply = rt.postgres.applyDynamicConfig?.bind(rt.postgres);
    const next = dynamicConfigToApply(cluster.config, this.#appliedDynamicVersion);
    if (!apply || !next || this.#applying) return;
    try {
      const applied = await withDeadline(rt.clock, dcsTimeoutMs(rt), 'applying the dynamic configuration', (signal) => {
        const run = apply(next, signal);
        this.#applying = run.then(
          () => void (this.#applying = null),
          () => void (this.#applying = null),
        );
        return run;
      });
      if (applied) this.#appliedDynamicVersion = next.version;
    } catch (e) {
      rt.log.warn({ err: errorMessage(e) }, 'could not apply the dynamic configuration to PostgreSQL; retrying at the next read');
    }
  }

  /**
   * The configuration the cluster read puts in effect (a broken or out-of-range stored value keeps
   * the last good one, config-keeper.ts), and the DCS session re-timed when ttl / loop_wait /
   * retry_timeout changed.
   */
  async applyConfig(cluster: Cluster): Promise<void> {
    const rt = this.#rt;
    rt.config = this.#configKeeper.resolve(cluster);
    const c = rt.config;
    const t = this.#timing;
    if (t && t.ttl === c.ttl && t.loopWait === c.loopWait && t.retryTimeout === c.retryTimeout) return;
    const timing = { ttl: c.ttl, loopWait: c.loopWait, retryTimeout: c.retryTimeout };
    try {
      await withDeadline(rt.clock, dcsTimeoutMs(rt), 'applying DCS timing', () => rt.store.setTiming(timing));
      this.#timing = timing;
    } catch (e) {
      rt.log.warn({ err: errorMessage(e) }, 'could not apply the new DCS timing');
    }
  }

  async readLocal(): Promise<LocalPostgresState> {
    const rt = this.#rt;
    try {
      const local = await withDeadline(rt.clock, dcsTimeoutMs(rt), 'reading the PostgreSQL state', (signal) => rt.postgres.state(signal));
      this.#lastLocal = local;
      this.#lease.stateRead();
      return local;
    } catch (e) {
      const previous = this.#lastLocal;
      const unknown: LocalPostgresState = {
        dataDirectory: previous?.dataDirectory ?? 'initialized',
        systemId: previous?.systemId ?? null,
        running: previous?.running ?? false,
        state: previous?.state ?? 'unknown',
        role: previous?.role ?? null,
        timeline: previous?.timeline ?? null,
        lsn: previous?.lsn ?? null,
        following: previous?.following ?? null,
        streaming: false,
        pendingRestart: previous?.pendingRestart ?? false,
        rewindPossible: previous?.rewindPossible ?? false,
        unknown: errorMessage(e),
      };
      return unknown;
    }
  }

  /**
   * With a leader race likely, start asking the members now, while PostgreSQL's state is read,
   * instead of after (core/rules/race.ts says when, and whom). The answers are as fresh as
   * Patroni's: taken after the cluster was read.
   */
  earlyProbe(cluster: Cluster | DcsUnavailable): EarlyProbe | null {
    const targets = earlyProbeTargets(cluster, this.#rt.config, this.#rt.me.name);
    if (targets.length === 0) return null;
    return { targets, results: this.probe(targets) };
  }

  /** The members' answers for a leader race; `early` is used when it asked the same members. */
  async peersFor(members: ProbeTarget[], early: EarlyProbe | null): Promise<PeerStatus[]> {
    const peers = early && sameTargets(early.targets, members) ? await early.results : await this.probe(members);
    // What each member answered, and why one we could not ask is left out of the WAL comparison
    // (Patroni's `Got response from` / `Request failed to`).
    for (const p of peers) {
      if (!p.reachable) {
        this.#rt.log.warn({ member: p.name }, `Request failed to ${p.name}: ${p.error ?? 'no answer'}`);
        continue;
      }
      const url = members.find((m) => m.name === p.name)?.apiUrl ?? '';
      const role = p.inRecovery ? 'in recovery' : 'running as primary';
      this.#rt.log.info({ member: p.name, wal: p.walPosition }, `Got response from ${p.name} ${url}: ${role}, wal position ${p.walPosition ?? 'unknown'}, timeline ${p.timeline ?? 'unknown'}`);
    }
    return peers;
  }

  async probe(members: ProbeTarget[]): Promise<PeerStatus[]> {
    if (members.length === 0) return [];
    const rt = this.#rt;
    const timeoutMs = rt.probeTimeoutMs;
    try {
      const results = await withDeadline(rt.clock, timeoutMs + PROBE_SLACK_MS, 'probing members', (signal) => rt.peers.probe(members, { timeoutMs, signal }));
      return members.map((m) => results.find((r) => r.name === m.name) ?? unreachable(m.name, 'no answer'));
    } catch (e) {
      return members.map((m) => unreachable(m.name, errorMessage(e)));
    }
  }

  /** POST /failsafe to `members`; a member that does not answer in time has not acknowledged. */
  async postFailsafe(members: ProbeTarget[]): Promise<FailsafeAck[]> {
    const rt = this.#rt;
    const post = rt.peers.postFailsafe?.bind(rt.peers);
    if (!post) return members.map((m) => ({ name: m.name, accepted: false, error: 'this agent cannot call POST /failsafe' }));
    const { me } = rt;
    const timeoutMs = rt.probeTimeoutMs;
    let acks: FailsafeAck[];
    try {
      acks = await withDeadline(rt.clock, timeoutMs + PROBE_SLACK_MS, 'POST /failsafe', (signal) =>
        post(members, { name: me.name, conn_url: me.connUrl, api_url: me.apiUrl }, { timeoutMs, signal }),
      );
    } catch (e) {
      acks = members.map((m) => ({ name: m.name, accepted: false, error: errorMessage(e) }));
    }
    return members.map((m) => {
      const ack = acks.find((a) => a.name === m.name) ?? { name: m.name, accepted: false, error: 'no answer' };
      if (ack.accepted) rt.log.info({ member: m.name, accepted: true }, `Got response from ${m.name} ${m.apiUrl}: Accepted`);
      else rt.log.warn({ member: m.name, accepted: false }, `No failsafe acknowledgement from ${m.name}: ${ack.error ?? 'no answer'}`);
      return ack;
    });
  }
}

function sameTargets(a: readonly ProbeTarget[], b: readonly ProbeTarget[]): boolean {
  return a.length === b.length && a.every((t, i) => t.name === b[i]?.name && t.apiUrl === b[i]?.apiUrl);
}
