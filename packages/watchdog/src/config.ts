/**
 * The `watchdog:` section of the agent's YAML (Patroni's), parsed leniently: Patroni's spellings
 * are accepted, unknown values fall back with a warning instead of stopping the agent.
 */
import { DEFAULT_WATCHDOG_DEVICE } from './linux-device.js';

export const WatchdogMode = { Off: 'off', Automatic: 'automatic', Required: 'required' } as const;
export type WatchdogMode = (typeof WatchdogMode)[keyof typeof WatchdogMode];

export interface WatchdogConfig {
  mode: WatchdogMode;
  /** Device path (`/dev/watchdog`, or the FIFO of the testing driver). */
  device: string;
  /** `default` (the platform's device) or `testing` (FIFO). */
  driver: string;
  /** Seconds kept between the watchdog firing and the leader key expiring; -1 = ttl / 2. */
  safetyMargin: number;
}

export const defaultWatchdogConfig: WatchdogConfig = {
  mode: WatchdogMode.Automatic,
  device: DEFAULT_WATCHDOG_DEVICE,
  driver: 'default',
  safetyMargin: 5,
};

/** Patroni's mode spellings; YAML 1.1 reads a bare `off` as false. */
export function parseWatchdogMode(value: unknown, warnings: string[] = []): WatchdogMode {
  if (value === undefined || value === null) return WatchdogMode.Automatic;
  if (value === false) return WatchdogMode.Off;
  if (value === true) return WatchdogMode.Automatic;
  const text = String(value).toLowerCase();
  if (text === 'require' || text === 'required') return WatchdogMode.Required;
  if (text === 'auto' || text === 'automatic') return WatchdogMode.Automatic;
  if (!['off', 'disable', 'disabled'].includes(text)) warnings.push(`Watchdog mode ${String(value)} not recognized, disabling watchdog`);
  return WatchdogMode.Off;
}

/** Reads the raw `watchdog:` section; problems become `warnings` (with the key path). */
export function parseWatchdogConfig(section: unknown): { config: WatchdogConfig; warnings: string[] } {
  const warnings: string[] = [];
  const raw = typeof section === 'object' && section !== null ? (section as Record<string, unknown>) : {};
  const config: WatchdogConfig = { ...defaultWatchdogConfig, mode: parseWatchdogMode(raw['mode'], warnings) };
  if (typeof raw['device'] === 'string' && raw['device'] !== '') config.device = raw['device'];
  if (typeof raw['driver'] === 'string' && raw['driver'] !== '') config.driver = raw['driver'];
  const margin = raw['safety_margin'];
  if (margin !== undefined && margin !== null) {
    const n = typeof margin === 'number' ? margin : Number(margin);
    if (Number.isFinite(n) && (n >= 0 || n === -1)) config.safetyMargin = n;
    else warnings.push(`watchdog.safety_margin: expected seconds (>= 0, or -1 for ttl/2), got ${JSON.stringify(margin)}; using ${config.safetyMargin}`);
  }
  return { config, warnings };
}
