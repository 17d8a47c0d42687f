/**
 * Failsafe mode's state between cycles (rules/failsafe.ts decides with it): the topology and the
 * leader last read from the DCS, the ping a primary last sent us, and how long the members'
 * acknowledgements let us keep running as primary.
 */
import type { Cluster, Failsafe } from '@pgha/dcs';
import type { FailsafeAnswer, FailsafeRequest, LastLeader } from '../core/failsafe-ping.js';
import { answerFailsafePing, failsafeActive, lastLeaderOf } from '../core/failsafe-ping.js';
import type { FailsafePing, LocalPostgresState } from '../core/snapshot.js';
import type { Runtime } from './context.js';

export class FailsafeState {
  readonly #rt: Runtime;
  /** The `failsafe` key from the last successful read. */
  #lastTopology: Failsafe | null = null;
  #ping: FailsafePing | null = null;
  /** The last lock holder read from the DCS: the only member whose failsafe ping we accept. */
  #lastLeader: LastLeader | null = null;
  /** Monotonic ms until which a failsafe round let us keep running as primary. */
  #holdUntil: number | null = null;

  constructor(rt: Runtime) {
    this.#rt = rt;
  }

  /** The topology the DCS showed last: what a primary asks when the DCS is gone. */
  get lastTopology(): Failsafe | null {
    return this.#lastTopology;
  }

  /** The last accepted ping, for the snapshot. */
  get ping(): FailsafePing | null {
    return this.#ping;
  }

  /** A successful DCS read: it replaces what a failsafe round stood in for. */
  read(cluster: Cluster): void {
    this.#lastTopology = cluster.failsafe?.value ?? null;
    this.#lastLeader = lastLeaderOf(cluster, this.#lastLeader);
    this.#holdUntil = null;
  }

  /** Every member acknowledged us: we may run as primary until `validUntil`. */
  hold(validUntil: number): void {
    this.#holdUntil = validUntil;
  }

  /** A primary's `POST /failsafe`: answer it, and remember it when accepted. */
  answer(request: FailsafeRequest, local: LocalPostgresState | null): FailsafeAnswer {
    const rt = this.#rt;
    // The engine decides who may make us follow it; we only remember an accepted ping.
    const { answer, ping } = answerFailsafePing({ request, config: rt.config, local, lastLeader: this.#lastLeader, now: rt.clock.now() });
    if (ping) this.#ping = ping;
    if (answer.kind === 'refused') rt.log.warn({ member: request.name, source: request.source, status: answer.status }, `POST /failsafe refused: ${answer.reason}`);
    return answer;
  }

  active(): boolean {
    return failsafeActive({ config: this.#rt.config, now: this.#rt.clock.now(), holdUntil: this.#holdUntil, ping: this.#ping });
  }
}
