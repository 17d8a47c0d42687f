export * from './cluster.js';
export * from './dcs-store.js';
export * from './member.js';
export * from './agent-build.js';
// The YAML parser of the cluster's config files, for tools that read the same format
// (tools/chaos's --attach file) without a dependency of their own.
export { parse as parseYaml } from 'yaml';
export * from './netns/network.js';
export * from './netns/cuts.js';
export * from './netns/link-proxy.js';
export type { HostCluster, HostClusterOptions } from './netns/host-cluster.js';
export { startHostCluster } from './netns/host-cluster.js';
