#!/usr/bin/env bash
# Sets a fresh Debian 12 machine (Node 20, run as root) up for pgha development: the servers the
# tests and the demo start (etcd, ZooKeeper, PostgreSQL 15), Patroni 3.0.2 as the compatibility
# reference, pnpm, the workspace's dependencies, and a build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/../.."

PNPM_VERSION=12.4.2
# nftables, iproute2: the namespace mode of tools/cluster (hosts as network namespaces, cuts as
# nft rules); systemd: tools/package's test checks the packaged unit with systemd-analyze (a
# container may lack it); haproxy: the e2e test of HAProxy health checks; chromium: the
# dashboard's browser test (headless, driven by playwright-core).
APT_PACKAGES=(etcd-server etcd-client zookeeper postgresql-15 postgresql-contrib patroni python3-etcd python3-kazoo python3-idna python3 make g++ faketime wrk haproxy systemd chromium nftables iproute2)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian packages may start their own services on the default ports; pgha's tests use free
# ports of their own, so these are only stopped to save memory and CPU.
for svc in etcd zookeeper patroni haproxy; do
  command -v systemctl >/dev/null 2>&1 && systemctl stop "$svc" >/dev/null 2>&1 || true
done
pkill -x etcd >/dev/null 2>&1 || true

if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  echo "setup: installing pnpm $PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null 2>&1
fi

# Native addons (zookeeper, unix-dgram) build against the installed Node's headers when they are
# there, instead of downloading them.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then export npm_config_nodedir=/usr; fi
pnpm install --frozen-lockfile
pnpm run build >/dev/null
echo "setup: done"
