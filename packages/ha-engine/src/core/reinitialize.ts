/**
 * Patroni's refusals of POST /reinitialize, written once: the API answers with them at once (as
 * Patroni's does) and the engine's `reinitialize-requested` rule applies them again when it takes
 * the request, since the cluster may have changed in between.
 */
import { REASON_CODES } from './reason-codes.js';

export type ReinitializeRefusal = 'reinitialize.no-leader' | 'reinitialize.is-leader';

/** Why a reinitialize cannot start now, in Patroni's order, or null when it may. */
export function reinitializeRefusal(facts: { leaderName: string | null | undefined; holdsLock: boolean }): { code: ReinitializeRefusal; sentence: string } | null {
  const code: ReinitializeRefusal | null = !facts.leaderName ? 'reinitialize.no-leader' : facts.holdsLock ? 'reinitialize.is-leader' : null;
  return code === null ? null : { code, sentence: REASON_CODES[code].sentence };
}
