#!/usr/bin/env bash
# Sets everything up (tools/scripts/setup.sh) and starts a 3-member pgha cluster on loopback:
# etcd, three agents, three PostgreSQL 15 servers. Shows the cluster's state; Ctrl-C stops it all.
# Pass --zookeeper to use ZooKeeper instead of etcd.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/scripts/setup.sh
exec pnpm exec tsx --conditions=@pgha/source tools/cluster/src/demo.ts "$@"
