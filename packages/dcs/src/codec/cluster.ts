/** The whole cluster: one load of raw nodes decoded into the model, key by key. */
import type { RawCluster, RawNode } from '../driver.js';
import { KEY, MEMBERS_DIR } from '../keys.js';
import { emptyCluster, type Cluster, type Member } from '../model.js';
import { parseConfig, parseFailover, parseFailsafe, parseHistory, parseLeader, parseLegacyOptime, parseStatus, parseSync } from './cluster-keys.js';
import { parseMemberData } from './member.js';
import { compareNames, type Parsed } from './patroni-json.js';

/**
 * Builds the cluster model from one load. Unknown keys are ignored; unreadable values become
 * null (members: empty data) with a line in `warnings`. The legacy `optime/leader` key stands in
 * for `status` when that is absent or unreadable.
 */
export function decodeCluster(raw: RawCluster): Cluster {
  const cluster = emptyCluster();
  const warnings = cluster.warnings;
  const versioned = <T>(node: RawNode, parsed: Parsed<T>): { value: T; version: string } | null => {
    warnings.push(...parsed.warnings);
    return parsed.value === null ? null : { value: parsed.value, version: node.version };
  };
  let legacyOptime: RawNode | undefined;

  for (const [key, node] of raw.nodes) {
    if (key.startsWith(MEMBERS_DIR)) {
      const name = key.slice(MEMBERS_DIR.length);
      if (name === '' || name.includes('/')) continue;
      const { data, warnings: w } = parseMemberData(node.value, key);
      warnings.push(...w);
      const member: Member = { name, version: node.version, data };
      if (node.owner !== undefined) member.owner = node.owner;
      cluster.members.push(member);
      continue;
    }
    switch (key) {
      case KEY.initialize:
        cluster.initialize = { value: node.value, version: node.version };
        break;
      case KEY.leader: {
        const parsed = parseLeader(node.value, key);
        warnings.push(...parsed.warnings);
        if (parsed.value !== null) {
          cluster.leader = { name: parsed.value, version: node.version };
          if (node.owner !== undefined) cluster.leader.owner = node.owner;
        }
        break;
      }
      case KEY.config: {
        const parsed = parseConfig(node.value, key);
        cluster.config = versioned(node, parsed);
        if (parsed.value === null) cluster.configError = { value: parsed.warnings.join('; ') || `${key}: unreadable`, version: node.version };
        break;
      }
      case KEY.failover:
        cluster.failover = versioned(node, parseFailover(node.value, key));
        break;
      case KEY.sync:
        cluster.sync = versioned(node, parseSync(node.value, key));
        break;
      case KEY.history:
        cluster.history = versioned(node, parseHistory(node.value, key));
        break;
      case KEY.status:
        cluster.status = versioned(node, parseStatus(node.value, key));
        break;
      case KEY.failsafe:
        cluster.failsafe = versioned(node, parseFailsafe(node.value, key));
        break;
      case KEY.legacyOptime:
        legacyOptime = node;
        break;
    }
  }
  if (cluster.status === null && legacyOptime !== undefined) {
    cluster.status = versioned(legacyOptime, parseLegacyOptime(legacyOptime.value));
  }
  cluster.members.sort((a, b) => compareNames(a.name, b.name));
  return cluster;
}
