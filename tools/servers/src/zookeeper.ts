import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from './ports.js';
import type { ServerHost } from './placement.js';
import { startProcess, waitFor, type ServerProcess } from './process.js';
import { serverSetLifecycle } from './server-set.js';

/** Debian's `zookeeper` package: the server jar (its manifest lists its dependencies) and Java. */
export const ZOOKEEPER_JAR = process.env.PGHA_ZOOKEEPER_JAR ?? '/usr/share/java/zookeeper.jar';
export const JAVA_BIN = process.env.PGHA_JAVA_BIN ?? '/usr/bin/java';
/** slf4j binding that logs to stderr (kept in the process output for diagnostics). */
const SLF4J_SIMPLE_JAR = '/usr/share/java/slf4j-simple.jar';

export interface ZooKeeperOptions {
  /** 1 (default) or 3 members. */
  members?: 1 | 3;
  /**
   * Server tick in ms (default 500). The server clamps session timeouts to [2, 20] × tickTime,
   * so 500 allows sessions of 1 to 10 s, short enough for expiry tests.
   */
  tickTime?: number;
  /** How long to wait for the ensemble to serve, in ms. Default 60 s (JVM start is slow). */
  startTimeoutMs?: number;
  /** slf4j-simple log level of the servers (default `warn`; `info` shows elections). */
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
  /**
   * One host per member (length = `members`): each server listens on its host's address, on
   * ZooKeeper's standard ports 2181 (clients), 2888 (quorum) and 3888 (election).
   */
  hosts?: readonly ServerHost[];
}

export interface ZooKeeperMember {
  /** 0-based index (the server id in the config is index + 1). */
  readonly index: number;
  readonly clientPort: number;
  readonly quorumPort: number;
  readonly electionPort: number;
  /** `127.0.0.1:<clientPort>` */
  readonly address: string;
  readonly dataDir: string;
  /** Null while the member is stopped. */
  readonly process: ServerProcess | null;
}

export interface ZooKeeperEnsemble {
  /** `127.0.0.1:p1,127.0.0.1:p2,...`: what clients connect to. */
  readonly connectString: string;
  readonly members: readonly ZooKeeperMember[];
  readonly tickTime: number;
  /** Stops every member and removes the data directories. Idempotent. */
  stop(): Promise<void>;
  /** Stops one member (SIGTERM, or SIGKILL with `{ kill: true }`), keeping its data. */
  stopMember(i: number, options?: { kill?: boolean }): Promise<void>;
  /** Starts a stopped member again on the same ports and data; resolves once it serves. */
  startMember(i: number): Promise<void>;
  /** SIGSTOP: the member keeps its sockets open but answers nothing. */
  freeze(i: number): void;
  /** SIGCONT. */
  thaw(i: number): void;
  /** Index of the member whose `srvr` reports `Mode: leader` (or `standalone`); -1 if none answers so. */
  leaderIndex(): Promise<number>;
  /** Sends a four-letter word (`srvr`, `wchs`, `cons`, ...) to member `i`; resolves with the reply. */
  fourLetter(i: number, word: string, timeoutMs?: number): Promise<string>;
}

interface MemberState {
  index: number;
  clientPort: number;
  quorumPort: number;
  electionPort: number;
  dir: string;
  process: ServerProcess | null;
  host: ServerHost | null;
}

/**
 * Sends a ZooKeeper four-letter word to `127.0.0.1:port` and resolves with the whole reply (the
 * server closes the connection after answering). Rejects on error or after `timeoutMs`.
 */
export function zooKeeperFourLetter(port: number, word: string, timeoutMs = 2000, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to "${word}" from ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => socket.end(word));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

/** The `Mode:` line of a `srvr` reply: leader, follower, standalone, or null while not serving. */
function parseMode(srvr: string): string | null {
  return /^Mode: (\w+)/m.exec(srvr)?.[1] ?? null;
}

// Servers of every ensemble started by this process, killed on exit so a crashed test run does not
// leave JVMs behind (afterAll hooks do not run when the worker dies).
const live = new Set<ServerProcess>();
let exitHookInstalled = false;
function track(proc: ServerProcess): void {
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const p of live) p.child.kill('SIGKILL');
    });
  }
}

/**
 * Starts ZooKeeper 3.8 (Debian's package) on 127.0.0.1 for a test or a development session: one
 * standalone server or a three-member ensemble, on free ports, with data in a fresh directory that
 * `stop()` removes. Resolves once every member serves (for an ensemble: once a leader is elected
 * and every member reports leader or follower). The admin HTTP server is off and all four-letter
 * words are allowed. JVM start takes seconds: reuse one ensemble per test file.
 *
 * Data goes to /dev/shm when it exists and `forceSync=no`: fsync cost is irrelevant to tests and
 * only slows elections on a busy machine.
 */
export async function startZooKeeper(options: ZooKeeperOptions = {}): Promise<ZooKeeperEnsemble> {
  const count = options.members ?? 1;
  const tickTime = options.tickTime ?? 500;
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  // freePorts releases the ports before the JVM binds them; another process may win the race, so
  // the whole start is retried with new ports when a member dies at start.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const root = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'pgha-zookeeper-'));
    const hosts = options.hosts;
    if (hosts && hosts.length !== count) throw new Error(`startZooKeeper: ${hosts.length} hosts for ${count} members`);
    const ports = hosts ? hosts.flatMap(() => [2181, 2888, 3888]) : await freePorts(count * 3);
    const states: MemberState[] = Array.from({ length: count }, (_, i) => ({
      index: i,
      clientPort: ports[i * 3]!,
      quorumPort: ports[i * 3 + 1]!,
      electionPort: ports[i * 3 + 2]!,
      dir: join(root, `zk${i}`),
      process: null,
      host: hosts?.[i] ?? null,
    }));
    const ensemble = makeEnsemble(root, states, tickTime, options.logLevel ?? 'warn');
    try {
      await Promise.all(states.map((_, i) => ensemble.prepare(i)));
      for (let i = 0; i < count; i++) ensemble.launch(i);
      await Promise.all(states.map((_, i) => ensemble.waitServing(i, timeoutMs)));
      return ensemble.api;
    } catch (e) {
      lastError = e;
      await ensemble.api.stop();
      if (!/address already in use|BindException|exited/i.test(String(e))) break;
    }
  }
  throw lastError;
}

function makeEnsemble(root: string, states: MemberState[], tickTime: number, logLevel: string) {
  const ip = (s: MemberState) => s.host?.address ?? '127.0.0.1';
  const address = (s: MemberState) => `${ip(s)}:${s.clientPort}`;

  function member(i: number): MemberState {
    const s = states[i];
    if (!s) throw new RangeError(`no ZooKeeper member ${i} (ensemble has ${states.length})`);
    return s;
  }

  const prepare = async (i: number) => {
    const s = member(i);
    const dataDir = join(s.dir, 'data');
    await mkdir(dataDir, { recursive: true });
    const lines = [
      `tickTime=${tickTime}`,
      'initLimit=20',
      'syncLimit=10',
      `dataDir=${dataDir}`,
      `clientPort=${s.clientPort}`,
      `clientPortAddress=${ip(s)}`,
      'admin.enableServer=false',
      '4lw.commands.whitelist=*',
      'forceSync=no',
      // The default 64 MB preallocation of each transaction log would sit in /dev/shm.
      'preAllocSize=1024',
      'maxClientCnxns=0',
    ];
    if (states.length > 1) {
      await writeFile(join(dataDir, 'myid'), `${s.index + 1}\n`);
      for (const m of states) lines.push(`server.${m.index + 1}=${ip(m)}:${m.quorumPort}:${m.electionPort}`);
    }
    await writeFile(join(s.dir, 'zoo.cfg'), `${lines.join('\n')}\n`);
  };

  const launch = (i: number) => {
    const s = member(i);
    const args = [
      '-Xmx192m',
      '-XX:+UseSerialGC',
      // C1 only: the JVM starts noticeably faster, and these servers never get hot.
      '-XX:TieredStopAtLevel=1',
      '-Dzookeeper.jmx.log4j.disable=true',
      `-Dorg.slf4j.simpleLogger.defaultLogLevel=${logLevel}`,
      '-cp',
      `${ZOOKEEPER_JAR}:${SLF4J_SIMPLE_JAR}`,
      'org.apache.zookeeper.server.quorum.QuorumPeerMain',
      join(s.dir, 'zoo.cfg'),
    ];
    const run = s.host ? s.host.wrap(JAVA_BIN, args) : { command: JAVA_BIN, args };
    s.process = startProcess(run.command, run.args);
    track(s.process);
  };

  const waitServing = async (i: number, timeoutMs: number) => {
    const s = member(i);
    const proc = s.process;
    await waitFor(
      `ZooKeeper member ${i} on ${address(s)} to serve`,
      async () => {
        if (proc && (proc.child.exitCode !== null || proc.child.signalCode !== null)) {
          throw new Error(`ZooKeeper member ${i} exited: ${proc.output().slice(-2000)}`);
        }
        const mode = parseMode(await zooKeeperFourLetter(s.clientPort, 'srvr', 2000, ip(s)));
        return mode === 'standalone' || mode === 'leader' || mode === 'follower';
      },
      timeoutMs,
      200,
    ).catch((e: unknown) => {
      // waitFor reports the last probe error; add the server's own output, which names bind failures.
      throw new Error(`${String(e)}\n${proc?.output().slice(-2000) ?? ''}`);
    });
  };

  const lifecycle = serverSetLifecycle({
    what: 'the ZooKeeper ensemble',
    root,
    member,
    all: states,
    restart: async (i) => {
      launch(i);
      await waitServing(i, 60_000);
    },
  });

  const api: ZooKeeperEnsemble = {
    connectString: states.map(address).join(','),
    tickTime,
    get members() {
      return states.map((s) => ({
        index: s.index,
        clientPort: s.clientPort,
        quorumPort: s.quorumPort,
        electionPort: s.electionPort,
        address: address(s),
        dataDir: join(s.dir, 'data'),
        process: s.process,
      }));
    },
    ...lifecycle,
    async leaderIndex() {
      const modes = await Promise.all(
        states.map((s) =>
          s.process ? zooKeeperFourLetter(s.clientPort, 'srvr', 1000, ip(s)).then(parseMode, () => null) : Promise.resolve(null),
        ),
      );
      return modes.findIndex((m) => m === 'leader' || m === 'standalone');
    },
    fourLetter(i, word, timeoutMs) {
      return zooKeeperFourLetter(member(i).clientPort, word, timeoutMs, ip(member(i)));
    },
  };
  return { api, prepare, launch, waitServing };
}
