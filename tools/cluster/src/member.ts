/**
 * One member of a local cluster: its agent (pgha or Patroni, on the member's Patroni-style YAML),
 * the PostgreSQL server that agent runs, and calls to the member's REST API. The agent can be
 * replaced by the other kind on the same YAML and data directory, as a migration between Patroni
 * and pgha does member by member.
 */
import { readFileSync, chownSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { startProcess, type ServerProcess, type TestCertificates } from '@pgha/test-servers';
import { childrenOf, type TestingSupervisor } from '@pgha/watchdog';
import { binArgs } from './agent-build.js';

export type AgentKind = 'pgha' | 'patroni';

export const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

/** What the harness calls members' https APIs with (see `LocalClusterOptions.restapiTls`). */
export interface ClusterTls {
  certificates: TestCertificates;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export interface MemberHandle {
  name: string;
  /** Where the member listens: 127.0.0.1, or its host's address in the namespace mode. */
  address: string;
  index: number;
  pgPort: number;
  apiPort: number;
  apiUrl: string;
  dataDir: string;
  configPath: string;
  /** The running agent, or null while stopped. */
  agent: ServerProcess | null;
  /** Which agent runs (or ran last, or starts next) on this member. */
  readonly kind: AgentKind;
  /**
   * One step of a migration between Patroni and pgha: stops the agent as `stop()` does (either
   * kind stops its PostgreSQL on SIGTERM), then starts `kind` on the same YAML and data
   * directory, which starts PostgreSQL again on the data it left. Refused on a member with a
   * watchdog (its `driver: testing` section is pgha's only).
   */
  replaceAgent(kind: AgentKind): Promise<void>;
  /** Starts the agent (again). */
  start(): void;
  /** SIGTERM to the agent and waits (the agent stops PostgreSQL on a clean shutdown). */
  stop(): Promise<void>;
  /** kill -9 of the agent only. */
  killAgent(): Promise<void>;
  /** kill -9 of the postmaster only (found through postmaster.pid). */
  killPostmaster(): boolean;
  freezeAgent(): void;
  thawAgent(): void;
  /**
   * SIGSTOP of the postmaster and every process it forked (a hung server: sockets open, nothing
   * answers), and SIGCONT of the same processes. Returns how many were stopped (0: none runs).
   */
  freezePostgres(): number;
  thawPostgres(): void;
  /** Rewrites the member's YAML with `change` applied, as an operator edits it before a reload. */
  editConfig(change: (config: Record<string, unknown>) => Record<string, unknown>): void;
  /** SIGHUP to the agent: it re-reads its YAML. */
  reload(): void;
  /** GET /patroni, or null when the API does not answer. */
  status(): Promise<Record<string, unknown> | null>;
  /** GET `path` on the member's API (over TLS with the client certificate when the cluster has one); null when it does not answer. */
  get(path: string): Promise<{ status: number; body: string } | null>;
  /**
   * `method path` on the member's API as an operator's script sends it: a JSON body, the
   * cluster's client certificate and API password when it has them. Rejects when nothing answers
   * within `timeoutMs` (default 90 s).
   */
  request(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<ApiAnswer>;
  /** The agent's output so far. */
  output(): string;
  /** This member's watchdog supervisor, when the cluster runs with `watchdog`. */
  watchdog: TestingSupervisor | null;
}

/**
 * Node flags for a production agent, chosen for resident memory (measured with
 * tools/bench/src/rss-probe.ts): the agent's heap is small (about 20 MB in use), so a 16 MB
 * default young generation mostly adds RSS; V8's background threads (`--single-threaded`) and
 * its speed-over-size heuristics (`--optimize-for-size`) cost another ~8 MB. The agent's work is
 * a few small requests per second, so it does not need them.
 */
export const AGENT_NODE_FLAGS = ['--max-semi-space-size=1', '--max-old-space-size=128', '--single-threaded', '--optimize-for-size'];

/** The command line that starts one agent on `configPath`. */
export function agentCommand(kind: AgentKind, configPath: string, useDist = false): { command: string; args: string[] } {
  if (kind === 'patroni') return { command: '/usr/bin/patroni', args: [configPath] };
  // The V8 settings the systemd unit uses (docs/operations.md): a small young generation.
  // PGHA_AGENT_NODE_FLAGS replaces them, for memory experiments (tools/bench/src/rss-probe.ts).
  const flags = process.env.PGHA_AGENT_NODE_FLAGS?.split(' ').filter(Boolean) ?? AGENT_NODE_FLAGS;
  return { command: process.execPath, args: [...(useDist ? flags : []), ...binArgs('agent', REPO_ROOT, useDist), configPath] };
}

export function makeMember(o: {
  name: string; index: number; pgPort: number; apiPort: number; dir: string; configPath: string;
  kind: AgentKind; ids: { uid: number; gid: number }; useDist: boolean; echo: boolean; watchdog: TestingSupervisor | null;
  env: Record<string, string>; tls: ClusterTls | null; apiAuth?: { username: string; password: string };
  /** The member's address (default 127.0.0.1) and how its agent starts there (the namespace mode's host). */
  host?: { address: string; wrapAs(ids: { uid: number; gid: number }, command: string, args: string[]): { command: string; args: string[] } };
}): MemberHandle {
  const apiUrl = `${o.tls ? 'https' : 'http'}://${o.host?.address ?? '127.0.0.1'}:${o.apiPort}`;
  const dataDir = join(o.dir, 'data');
  const outputs: string[] = [];
  let kind = o.kind;
  let frozenPostgres: number[] = [];
  const handle: MemberHandle = {
    name: o.name,
    address: o.host?.address ?? '127.0.0.1',
    index: o.index,
    pgPort: o.pgPort,
    apiPort: o.apiPort,
    apiUrl,
    dataDir,
    configPath: o.configPath,
    agent: null,
    get kind() {
      return kind;
    },
    async replaceAgent(next) {
      if (o.watchdog) throw new Error(`${o.name}: replaceAgent on a member with a watchdog (its YAML is pgha's only)`);
      await handle.stop();
      // What the next agent logs follows what the last one did, under a line that tells them apart.
      outputs.push(`--- ${o.name}: ${kind} stopped, ${next} starting on the same YAML and data directory`);
      kind = next;
      handle.start();
    },
    start() {
      if (handle.agent && handle.agent.child.exitCode === null && handle.agent.child.signalCode === null) return;
      const plain = agentCommand(kind, o.configPath, o.useDist);
      // On a host, nsenter (as root) enters the namespace and then becomes the postgres user.
      const { command, args } = o.host ? o.host.wrapAs(o.ids, plain.command, plain.args) : plain;
      const agent = startProcess(command, args, {
        ...(o.host ? {} : { uid: o.ids.uid, gid: o.ids.gid }),
        cwd: o.dir,
        // TMPDIR: the agent's own, so nothing it writes there clashes with files root created
        // under /tmp (a 0700 directory of root's is unreadable to the postgres user).
        env: { ...process.env, HOME: o.dir, PGPASSFILE: join(o.dir, 'pgpass'), TMPDIR: join(o.dir, 'tmp'), ...o.env },
      });
      if (o.echo) {
        const forward = (chunk: Buffer) => process.stderr.write(chunk.toString().replace(/^(?=.)/gm, `[${o.name}] `));
        agent.child.stdout?.on('data', forward);
        agent.child.stderr?.on('data', forward);
      }
      handle.agent = agent;
    },
    async stop() {
      const agent = handle.agent;
      if (!agent) return;
      await agent.stop(60_000);
      // After the stop: what the agent said while shutting down belongs to this run's output.
      outputs.push(agent.output());
      handle.agent = null;
    },
    async killAgent() {
      const agent = handle.agent;
      if (!agent) return;
      agent.child.kill('SIGKILL');
      await agent.exited;
      outputs.push(agent.output());
      handle.agent = null;
    },
    killPostmaster() {
      const pid = postmasterPid(dataDir);
      if (pid === null) return false;
      // A frozen postmaster dies of SIGKILL too; its children must not stay stopped.
      for (const p of frozenPostgres) signal(p, 'SIGCONT');
      frozenPostgres = [];
      process.kill(pid, 'SIGKILL');
      return true;
    },
    freezeAgent: () => handle.agent?.freeze(),
    thawAgent: () => handle.agent?.thaw(),
    freezePostgres() {
      const pid = postmasterPid(dataDir);
      frozenPostgres = pid === null ? [] : [pid, ...childrenOf(pid)];
      for (const p of frozenPostgres) signal(p, 'SIGSTOP');
      return frozenPostgres.length;
    },
    thawPostgres() {
      for (const p of frozenPostgres) signal(p, 'SIGCONT');
      frozenPostgres = [];
    },
    editConfig(change) {
      writeFileSync(o.configPath, toYaml(change(parseYaml(readFileSync(o.configPath, 'utf8')) as Record<string, unknown>)));
      chownSync(o.configPath, o.ids.uid, o.ids.gid);
    },
    reload() {
      const pid = handle.agent?.child.pid;
      if (pid === undefined) throw new Error(`${o.name}: no agent runs to reload`);
      process.kill(pid, 'SIGHUP');
    },
    async status() {
      const res = await handle.get('/patroni');
      try {
        return res ? (JSON.parse(res.body) as Record<string, unknown>) : null;
      } catch {
        return null;
      }
    },
    get: (path) => apiGet(`${apiUrl}${path}`, o.tls),
    request: (method, path, body, timeoutMs = 90_000) => apiRequest(`${apiUrl}${path}`, method, body, { tls: o.tls, auth: o.apiAuth, timeoutMs }),
    output: () => [...outputs, handle.agent?.output() ?? ''].join('\n'),
    watchdog: o.watchdog,
  };
  return handle;
}

/** What a member's API answered: headers are lower-cased names, as node gives them. */
export interface ApiAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** MemberHandle.request: JSON body, client certificate and Basic auth when the cluster has them. */
function apiRequest(
  url: string,
  method: string,
  body: unknown,
  o: { tls: ClusterTls | null; auth: { username: string; password: string } | undefined; timeoutMs: number },
): Promise<ApiAnswer> {
  return new Promise((resolve, reject) => {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = {
      ...(payload !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(payload)) } : {}),
      ...(o.auth ? { Authorization: `Basic ${Buffer.from(`${o.auth.username}:${o.auth.password}`).toString('base64')}` } : {}),
    };
    const req = send(url, { method, headers, agent: false, timeout: o.timeoutMs, ...(o.tls ? { ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within ${o.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** GET over http or https (the cluster's CA and client certificate); null when nothing answers within 2 s. */
function apiGet(url: string, tls: ClusterTls | null): Promise<{ status: number; body: string } | null> {
  return new Promise((resolve) => {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = send(url, { agent: false, timeout: 2000, ...(tls ? { ca: tls.ca, cert: tls.cert, key: tls.key } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', () => resolve(null));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(null));
    req.end();
  });
}

/**
 * The pid of the postmaster running on `dataDir`, or null. A stale postmaster.pid may name a pid
 * reused by another process (pid_max is small here): only a postgres on this data directory counts.
 */
function postmasterPid(dataDir: string): number | null {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const cmdline = pid > 0 ? readFileSync(`/proc/${pid}/cmdline`, 'utf8') : '';
    return pid > 0 && cmdline.includes('postgres') && cmdline.includes(dataDir) ? pid : null;
  } catch {
    // no postmaster.pid: nothing runs
    return null;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
