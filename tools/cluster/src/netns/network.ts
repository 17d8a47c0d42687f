/**
 * Hosts for a cluster: one network namespace per host, each with its own address on a private
 * /24, joined by veth pairs to a bridge in the root namespace (which holds the .1 address, so the
 * harness, its TCP proxies and its probes reach every host). Processes run on a host through
 * `nsenter --net=/run/netns/<ns>`, which execs the command itself: the child's pid is the
 * server's, so signals (SIGSTOP, SIGKILL) reach it directly.
 *
 * Names carry a run id so parallel runs never collide; each run claims its /24 with a lock
 * directory under /run/pgha-netns naming its pid, so a later run removes what a killed run left
 * behind. `teardown()` is idempotent and also runs when the process exits.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ServerHost } from '@pgha/test-servers';

/** Errors of the namespace mode, with stable codes. */
export type NetnsErrorCode = 'NETNS_UNAVAILABLE' | 'NETNS_NO_SUBNET' | 'NETNS_COMMAND_FAILED';

export class NetnsError extends Error {
  readonly code: NetnsErrorCode;
  constructor(code: NetnsErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'NetnsError';
    this.code = code;
  }
}

export interface Host extends ServerHost {
  index: number;
  /** The namespace's name (`ip netns` list). */
  ns: string;
  /** The root-side end of the host's veth pair, on the bridge. */
  veth: string;
  /** `wrap` as another user (agents run as postgres): nsenter sets the ids after entering. */
  wrapAs(ids: { uid: number; gid: number }, command: string, args: string[]): { command: string; args: string[] };
}

export interface HostNetwork {
  id: string;
  /** The bridge's address in the root namespace: where the harness's proxies listen. */
  gateway: string;
  /** `10.213.X.0/24` */
  subnet: string;
  hosts: Host[];
  /** Runs `nft` inside a host's namespace with `script` on stdin. */
  nft(host: Host, script: string): void;
  /** Takes the host's link down or up (a dead host sends nothing, not even a reset). */
  setLink(host: Host, up: boolean): void;
  teardown(): void;
}

export interface HostNetworkOptions {
  hosts: number;
  /**
   * Run the `ip` commands as this uid (tests of the refusal a non-root user gets); default the
   * current user.
   */
  uid?: number;
}

const LOCK_ROOT = '/run/pgha-netns';
const SUBNET_BASE = '10.213';

function run(command: string, args: string[], options: { input?: string; uid?: number } = {}): string {
  try {
    return execFileSync(command, args, { stdio: ['pipe', 'pipe', 'pipe'], input: options.input ?? '', ...(options.uid !== undefined ? { uid: options.uid } : {}) }).toString();
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim() ?? String(e);
    throw new NetnsError('NETNS_COMMAND_FAILED', `${command} ${args.join(' ')}: ${stderr}`);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes what a run whose process is gone left: its namespaces, bridge and lock. */
function sweepStale(): void {
  if (!existsSync(LOCK_ROOT)) return;
  for (const entry of readdirSync(LOCK_ROOT)) {
    const lock = join(LOCK_ROOT, entry);
    let owner: { pid: number; id: string } | null = null;
    try {
      owner = JSON.parse(readFileSync(join(lock, 'owner.json'), 'utf8')) as { pid: number; id: string };
    } catch {
      // a lock being written right now, or a broken one: left alone
    }
    if (!owner || alive(owner.pid)) continue;
    removeRun(owner.id);
    rmSync(lock, { recursive: true, force: true });
  }
}

function namespacesOf(id: string): string[] {
  const list = run('ip', ['netns', 'list']);
  return list.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(`pgha-${id}-`));
}

function removeRun(id: string): void {
  for (const ns of namespacesOf(id)) {
    try {
      run('ip', ['netns', 'del', ns]);
    } catch {
      // already gone
    }
  }
  try {
    run('ip', ['link', 'del', `pb${id}`]);
  } catch {
    // already gone
  }
}

/**
 * A run id no namespace or bridge on this machine carries yet: another run's names (a soak in a
 * second process, a run being swept) are never reused, even if its random id came up again.
 */
function freshId(): string {
  for (;;) {
    const id = randomBytes(3).toString('hex');
    if (namespacesOf(id).length === 0 && !existsSync(`/sys/class/net/pb${id}`)) return id;
  }
}

/** Claims a free 10.213.X.0/24 (X in 1..254) with an atomic mkdir. */
function claimSubnet(id: string): { third: number; lock: string } {
  mkdirSync(LOCK_ROOT, { recursive: true });
  const start = 1 + (randomBytes(1)[0]! % 254);
  for (let k = 0; k < 254; k++) {
    const third = 1 + ((start + k - 1) % 254);
    const lock = join(LOCK_ROOT, `subnet-${third}`);
    try {
      mkdirSync(lock);
    } catch {
      continue;
    }
    writeFileSync(join(lock, 'owner.json'), JSON.stringify({ pid: process.pid, id }));
    return { third, lock };
  }
  throw new NetnsError('NETNS_NO_SUBNET', `every ${SUBNET_BASE}.X.0/24 is claimed under ${LOCK_ROOT}`);
}

/**
 * Creates `hosts` namespaces on a fresh bridge. Throws NETNS_UNAVAILABLE (with the system's
 * reason) when this process may not create namespaces, e.g. when it is not root.
 */
export function createHostNetwork(options: HostNetworkOptions): HostNetwork {
  const id = freshId();
  // The refusal comes first and alone: nothing else is created before it is known.
  const probe = `pgha-${id}-probe`;
  try {
    run('ip', ['netns', 'add', probe], options.uid !== undefined ? { uid: options.uid } : {});
  } catch (e) {
    throw new NetnsError(
      'NETNS_UNAVAILABLE',
      `cannot create network namespaces (${(e as Error).message}); the namespace mode needs root with iproute2 and nftables — use the loopback mode instead`,
    );
  }
  run('ip', ['netns', 'del', probe]);
  sweepStale();
  const { third, lock } = claimSubnet(id);
  const prefix = `${SUBNET_BASE}.${third}`;
  const bridge = `pb${id}`;
  let torn = false;
  const hosts: Host[] = [];
  const teardown = () => {
    if (torn) return;
    torn = true;
    process.removeListener('exit', teardown);
    removeRun(id);
    rmSync(lock, { recursive: true, force: true });
  };
  process.once('exit', teardown);
  try {
    run('ip', ['link', 'add', bridge, 'type', 'bridge']);
    run('ip', ['addr', 'add', `${prefix}.1/24`, 'dev', bridge]);
    run('ip', ['link', 'set', bridge, 'up']);
    for (let i = 0; i < options.hosts; i++) {
      const ns = `pgha-${id}-h${i}`;
      const veth = `pv${id}${i}`;
      const address = `${prefix}.${i + 2}`;
      run('ip', ['netns', 'add', ns]);
      run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      run('ip', ['link', 'set', veth, 'master', bridge, 'up']);
      run('ip', ['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      const enter = [`--net=/run/netns/${ns}`];
      hosts.push({
        index: i,
        ns,
        veth,
        address,
        wrap: (command, args) => ({ command: 'nsenter', args: [...enter, '--', command, ...args] }),
        wrapAs: (ids, command, args) => ({ command: 'nsenter', args: [...enter, `--setuid=${ids.uid}`, `--setgid=${ids.gid}`, '--', command, ...args] }),
      });
    }
  } catch (e) {
    teardown();
    throw e;
  }
  return {
    id,
    gateway: `${prefix}.1`,
    subnet: `${prefix}.0/24`,
    hosts,
    nft(host, script) {
      run('ip', ['netns', 'exec', host.ns, 'nft', '-f', '-'], { input: script });
    },
    setLink(host, up) {
      run('ip', ['link', 'set', host.veth, up ? 'up' : 'down']);
    },
    teardown,
  };
}
