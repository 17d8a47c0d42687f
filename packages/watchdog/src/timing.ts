/**
 * The timeout arithmetic (Patroni's rule). The watchdog must fire before the leader key expires,
 * so its timeout is the ttl minus a safety margin; and it must outlast one HA loop, or a healthy
 * agent would reset its own machine between two keepalives.
 */

/** Watchdog timeout in seconds: `ttl - safety_margin`, or `ttl / 2` (floored) when the margin is -1. */
export function watchdogTimeout(ttl: number, safetyMargin: number): number {
  return safetyMargin === -1 ? Math.floor(ttl / 2) : ttl - safetyMargin;
}

/** Seconds left between a keepalive's loop and the watchdog firing; negative = cannot cover a loop. */
export function timingSlack(ttl: number, safetyMargin: number, loopWait: number): number {
  return watchdogTimeout(ttl, safetyMargin) - loopWait;
}
