import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openssl } from './certificates.js';
import { freePorts } from './ports.js';
import type { ServerHost } from './placement.js';
import { startProcess, waitFor, type ServerProcess } from './process.js';
import { serverSetLifecycle } from './server-set.js';

/** Where Debian's etcd-server and etcd-client put the binaries. */
export const ETCD_BIN = process.env.PGHA_ETCD_BIN ?? '/usr/bin/etcd';
export const ETCDCTL_BIN = process.env.PGHA_ETCDCTL_BIN ?? '/usr/bin/etcdctl';

export interface EtcdOptions {
  /** 1 (default) or 3 members. */
  members?: 1 | 3;
  /** How long to wait for the cluster to become healthy, in ms. Default 30 s. */
  startTimeoutMs?: number;
  /** Serve clients over TLS (peers stay on plain http). See `makeEtcdCertificates`. */
  tls?: EtcdTls;
  /**
   * One host per member (length = `members`): each member listens on its host's address, on
   * etcd's standard ports 2379 (clients) and 2380 (peers), started through the host.
   */
  hosts?: readonly ServerHost[];
  /** etcd's `--election-timeout` in ms (etcd's default 1000). */
  electionTimeoutMs?: number;
}

/** PEM file paths for a TLS etcd. */
export interface EtcdTls {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** The client certificate the launcher itself uses (health checks, etcdctl). */
  clientCertFile: string;
  clientKeyFile: string;
  /** Require a client certificate signed by the CA (`--client-cert-auth`). */
  clientCertAuth?: boolean;
}

export interface EtcdMember {
  readonly name: string;
  /** `http://127.0.0.1:<port>`: what clients connect to. */
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  /** Null while the member is stopped. */
  readonly process: ServerProcess | null;
}

export interface EtcdCluster {
  /** The client URLs of all members, in member order. */
  readonly endpoints: string[];
  readonly members: readonly EtcdMember[];
  /** Stops every member and removes the data directories. Idempotent. */
  stop(): Promise<void>;
  /** Stops one member (SIGTERM, or SIGKILL with `{ kill: true }`), keeping its data. */
  stopMember(i: number, options?: { kill?: boolean }): Promise<void>;
  /** Starts a stopped member again on the same ports and data; resolves when it answers healthy. */
  startMember(i: number): Promise<void>;
  /** SIGSTOP: the member keeps its sockets open but answers nothing. */
  freeze(i: number): void;
  /** SIGCONT. */
  thaw(i: number): void;
  /** Runs `etcdctl` (API v3) against all endpoints (or those of an `--endpoints=` in `args`); resolves with its stdout. */
  etcdctl(args: string[], timeoutMs?: number): Promise<string>;
}

interface MemberState {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  process: ServerProcess | null;
  host: ServerHost | null;
}

/**
 * Starts etcd on 127.0.0.1 for a test or a development session: one member or a three-member
 * cluster, on free ports, with data in a fresh directory that `stop()` removes. Resolves once
 * every member reports healthy (which, in etcd 3.4, implies the cluster has a leader).
 *
 * This etcd (3.4) has no `--unsafe-no-fsync`, so the data goes to /dev/shm when it exists: fsync
 * on tmpfs is free, which keeps elections and writes fast on a busy test machine.
 */
export async function startEtcd(options: EtcdOptions = {}): Promise<EtcdCluster> {
  const count = options.members ?? 1;
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  // freePorts releases the ports before etcd binds them; another process may win the race, so
  // the whole start is retried with new ports when a bind fails.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const root = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'pgha-etcd-'));
    const hosts = options.hosts;
    if (hosts && hosts.length !== count) throw new Error(`startEtcd: ${hosts.length} hosts for ${count} members`);
    const ports = hosts ? hosts.flatMap(() => [2379, 2380]) : await freePorts(count * 2);
    const token = `pgha-${process.pid}-${Date.now()}-${attempt}`;
    const states: MemberState[] = Array.from({ length: count }, (_, i) => ({
      name: `etcd${i}`,
      clientPort: ports[i * 2]!,
      peerPort: ports[i * 2 + 1]!,
      dataDir: join(root, `etcd${i}`),
      process: null,
      host: hosts?.[i] ?? null,
    }));
    const cluster = makeCluster(root, states, token, options.tls, options.electionTimeoutMs);
    try {
      for (let i = 0; i < count; i++) cluster.launch(i, 'new');
      await Promise.all(states.map((_, i) => cluster.waitHealthy(i, timeoutMs)));
      return cluster.api;
    } catch (e) {
      lastError = e;
      await cluster.api.stop();
      if (!/address already in use/i.test(String(e))) break;
    }
  }
  throw lastError;
}

function makeCluster(root: string, states: MemberState[], token: string, tls: EtcdTls | undefined, electionTimeoutMs: number | undefined) {
  const clientUrl = (s: MemberState) => `${tls ? 'https' : 'http'}://${s.host?.address ?? '127.0.0.1'}:${s.clientPort}`;
  const peerUrl = (s: MemberState) => `http://${s.host?.address ?? '127.0.0.1'}:${s.peerPort}`;
  const initialCluster = states.map((s) => `${s.name}=${peerUrl(s)}`).join(',');

  const launch = (i: number, state: 'new' | 'existing') => {
    const s = member(i);
    const args = [
      '--name', s.name,
      '--data-dir', s.dataDir,
      '--listen-client-urls', clientUrl(s),
      '--advertise-client-urls', clientUrl(s),
      '--listen-peer-urls', peerUrl(s),
      '--initial-advertise-peer-urls', peerUrl(s),
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', state,
      '--initial-cluster-token', token,
      '--log-level', 'warn',
      '--logger', 'zap',
      ...(tls ? ['--cert-file', tls.certFile, '--key-file', tls.keyFile, '--trusted-ca-file', tls.caFile] : []),
      ...(tls?.clientCertAuth ? ['--client-cert-auth'] : []),
      // The heartbeat stays a tenth of the election timeout, as etcd advises.
      ...(electionTimeoutMs ? ['--election-timeout', String(electionTimeoutMs), '--heartbeat-interval', String(Math.max(10, Math.round(electionTimeoutMs / 10)))] : []),
    ];
    const run = s.host ? s.host.wrap(ETCD_BIN, args) : { command: ETCD_BIN, args };
    s.process = startProcess(run.command, run.args);
  };

  function member(i: number): MemberState {
    const s = states[i];
    if (!s) throw new RangeError(`no etcd member ${i} (cluster has ${states.length})`);
    return s;
  }

  const waitHealthy = async (i: number, timeoutMs: number) => {
    const s = member(i);
    const proc = s.process;
    await waitFor(`etcd member ${s.name} on ${clientUrl(s)} to be healthy`, async () => {
      if (proc && (proc.child.exitCode !== null || proc.child.signalCode !== null)) {
        throw new Error(`etcd ${s.name} exited: ${proc.output().slice(-2000)}`);
      }
      const body = JSON.parse(await getHealth(clientUrl(s), tls)) as { health?: unknown };
      return body.health === 'true' || body.health === true;
    }, timeoutMs).catch((e: unknown) => {
      // waitFor reports the last probe error; add the server's own output, which names bind failures.
      throw new Error(`${String(e)}\n${proc?.output().slice(-2000) ?? ''}`);
    });
  };

  const lifecycle = serverSetLifecycle({
    what: 'the etcd cluster',
    root,
    member,
    all: states,
    restart: async (i) => {
      launch(i, 'existing');
      await waitHealthy(i, 30_000);
    },
  });

  const api: EtcdCluster = {
    endpoints: states.map(clientUrl),
    get members() {
      return states.map((s) => ({
        name: s.name,
        clientUrl: clientUrl(s),
        peerUrl: peerUrl(s),
        dataDir: s.dataDir,
        process: s.process,
      }));
    },
    ...lifecycle,
    etcdctl(args, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        execFile(
          ETCDCTL_BIN,
          [
            // etcdctl appends repeated --endpoints flags: a caller's own list replaces ours.
            ...(args.some((a) => a.startsWith('--endpoints=')) ? [] : [`--endpoints=${states.map(clientUrl).join(',')}`]),
            '--command-timeout=5s',
            ...(tls ? [`--cacert=${tls.caFile}`, `--cert=${tls.clientCertFile}`, `--key=${tls.clientKeyFile}`] : []),
            ...args,
          ],
          { env: { ...process.env, ETCDCTL_API: '3' }, timeout: timeoutMs },
          (err, stdout, stderr) => (err ? reject(new Error(`etcdctl ${args.join(' ')}: ${err.message} ${stderr}`)) : resolve(stdout)),
        );
      });
    },
  };
  return { api, launch, waitHealthy };
}

/** GET /health, over https with the test CA when the cluster uses TLS. */
async function getHealth(url: string, tls: EtcdTls | undefined): Promise<string> {
  if (!tls) {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
    return res.text();
  }
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/health`,
      {
        ca: readFileSync(tls.caFile),
        cert: readFileSync(tls.clientCertFile),
        key: readFileSync(tls.clientKeyFile),
        timeout: 2000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      },
    );
    req.on('timeout', () => req.destroy(new Error('health check timed out')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Creates a throw-away CA, a server certificate for 127.0.0.1 / localhost and a client
 * certificate in `dir` (with the `openssl` CLI), for `startEtcd({ tls })` and TLS clients.
 */
export async function makeEtcdCertificates(dir: string, options: { clientCertAuth?: boolean } = {}): Promise<EtcdTls> {
  const days = ['-days', '2'];
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-subj', '/CN=pgha test CA', ...days], dir);
  for (const [name, cn, ext] of [
    ['server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth'],
    ['client', 'pgha-client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
    await writeFile(join(dir, `${name}.ext`), `${ext}\n`);
    await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', `${name}.pem`, '-extfile', `${name}.ext`, ...days], dir);
  }
  return {
    caFile: join(dir, 'ca.pem'),
    certFile: join(dir, 'server.pem'),
    keyFile: join(dir, 'server-key.pem'),
    clientCertFile: join(dir, 'client.pem'),
    clientKeyFile: join(dir, 'client-key.pem'),
    ...(options.clientCertAuth ? { clientCertAuth: true } : {}),
  };
}
