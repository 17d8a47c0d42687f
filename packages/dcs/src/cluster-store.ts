/**
 * `ClusterStore` over any `DcsDriver`: Patroni's JSON via the codec, plus the two steps Patroni
 * shares between its drivers (writing `/status` after a renewal, skipping unchanged member
 * values).
 */
import {
  decodeCluster,
  serializeConfig,
  serializeFailover,
  serializeFailsafe,
  serializeHistory,
  serializeMemberData,
  serializeStatus,
  serializeSync,
} from './codec/index.js';
import type { CallOptions, DcsDriver, Expectation } from './driver.js';
import { memberKey } from './keys.js';
import type { Logger } from './logger.js';
import type { Cluster, MemberData, Status } from './model.js';
import type { ClusterStore, WriteCompatibility } from './store.js';

export interface ClusterStoreOptions {
  /** This member's name (the driver's `DriverOptions.name`). */
  name: string;
  logger: Logger;
  compatibility?: Partial<WriteCompatibility>;
}

/** `undefined` → unconditional, `null` → only if absent, a string → only that version. */
function expectation(version: string | null | undefined): Expectation {
  if (version === undefined) return { kind: 'any' };
  if (version === null) return { kind: 'absent' };
  return { kind: 'version', version };
}

export function createClusterStore(driver: DcsDriver, options: ClusterStoreOptions): ClusterStore {
  const { name, logger } = options;
  const compatibility: WriteCompatibility = { legacyPrimaryRole: true, ...options.compatibility };
  const ownKey = memberKey(name);
  /** What our member key holds as far as we know (last load or last write); undefined = unknown or absent. */
  let ownMemberValue: string | undefined;
  /** The `status` value we last wrote successfully. */
  let lastStatus: string | undefined;
  /** The warnings of the last load: a value that stays unreadable is reported once, not every cycle. */
  let lastWarnings = new Set<string>();

  return {
    driver,
    name,

    async loadCluster(callOptions?: CallOptions): Promise<Cluster> {
      const raw = await driver.load(callOptions);
      ownMemberValue = raw.nodes.get(ownKey)?.value;
      // Compare the next status write against what the DCS holds now (another leader may have written since).
      lastStatus = raw.nodes.get('status')?.value;
      const cluster = decodeCluster(raw);
      for (const warning of cluster.warnings) {
        if (!lastWarnings.has(warning)) logger.warn({ prefix: driver.prefix, warning }, `unreadable DCS value under ${driver.prefix}: ${warning}`);
      }
      lastWarnings = new Set(cluster.warnings);
      return cluster;
    },

    acquireLeader: (callOptions) => driver.acquireLeader(callOptions),

    async updateLeader(status?: Status, callOptions?: CallOptions): Promise<boolean> {
      const started = performance.now();
      const renewed = await driver.renewLeader(callOptions);
      if (!renewed || status === undefined) return renewed;
      const value = serializeStatus(status);
      if (value === lastStatus) return renewed;
      // The status write shares the caller's deadline with the renewal rather than adding its own.
      let statusOptions = callOptions;
      if (callOptions?.timeoutMs !== undefined) {
        const left = callOptions.timeoutMs - (performance.now() - started);
        if (left <= 0) return renewed;
        statusOptions = { ...callOptions, timeoutMs: left };
      }
      try {
        if (await driver.write('status', value, { kind: 'any' }, statusOptions)) lastStatus = value;
      } catch (e) {
        logger.warn({ err: e, prefix: driver.prefix }, `could not write ${driver.prefix}status after renewing the leader lock`);
      }
      return renewed;
    },

    releaseLeader: (callOptions) => driver.releaseLeader(callOptions),

    async touchMember(data: MemberData, callOptions?: CallOptions & { force?: boolean; compatibility?: Partial<WriteCompatibility> }): Promise<void> {
      const value = serializeMemberData(data, { ...compatibility, ...callOptions?.compatibility });
      if (!callOptions?.force && value === ownMemberValue) return;
      // Until the write is confirmed we do not know what the key holds.
      ownMemberValue = undefined;
      await driver.touchMember(value, callOptions);
      ownMemberValue = value;
    },

    async deleteMember(member: string, callOptions?: CallOptions): Promise<boolean> {
      if (member === name) ownMemberValue = undefined;
      return driver.deleteMember(member, callOptions);
    },

    attemptToInitialize: (callOptions) => driver.write('initialize', '', { kind: 'absent' }, callOptions),

    setInitialize: (sysid, expectVersion, callOptions) => driver.write('initialize', sysid, expectation(expectVersion), callOptions),

    cancelInitialization: (callOptions) => driver.remove('initialize', { kind: 'any' }, callOptions),

    setConfig: (config, expectVersion, callOptions) => driver.write('config', serializeConfig(config), expectation(expectVersion), callOptions),

    setFailover: (failover, expectVersion, callOptions) =>
      driver.write('failover', serializeFailover(failover), expectation(expectVersion), callOptions),

    clearFailover: (expectVersion, callOptions) => driver.write('failover', serializeFailover({}), expectation(expectVersion), callOptions),

    setSync: (sync, expectVersion, callOptions) => driver.write('sync', serializeSync(sync), expectation(expectVersion), callOptions),

    deleteSync: (expectVersion, callOptions) => driver.remove('sync', expectation(expectVersion), callOptions),

    setHistory: (history, expectVersion, callOptions) =>
      driver.write('history', serializeHistory(history), expectation(expectVersion), callOptions),

    async setStatus(status: Status, callOptions?: CallOptions): Promise<boolean> {
      const value = serializeStatus(status);
      const written = await driver.write('status', value, { kind: 'any' }, callOptions);
      if (written) lastStatus = value;
      return written;
    },

    setFailsafe: (failsafe, callOptions) =>
      failsafe === null
        ? driver.remove('failsafe', { kind: 'any' }, callOptions)
        : driver.write('failsafe', serializeFailsafe(failsafe), { kind: 'any' }, callOptions),

    async deleteCluster(callOptions?: CallOptions): Promise<void> {
      await driver.deleteCluster(callOptions);
      ownMemberValue = undefined;
      lastStatus = undefined;
    },

    watch: (listener) => driver.watch(listener),
    hold: () => driver.hold(),
    setTiming: (timing) => driver.setTiming(timing),
    close: (closeOptions) => driver.close(closeOptions),
  };
}
