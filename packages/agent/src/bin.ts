#!/usr/bin/env -S node --max-semi-space-size=1 --max-old-space-size=128 --single-threaded --optimize-for-size
/**
 * `pgha <config.yml | config-dir>`: runs the agent; the other modes (validate, generate a
 * configuration, version) are in USAGE. SIGHUP reloads the configuration file; SIGTERM or SIGINT
 * stops cleanly (PostgreSQL stopped, the leader lock released); a second one exits at once.
 */
import { parseArgs } from 'node:util';
import { importWithoutFetchGlobals } from './runtime/without-fetch-globals.js';
import { PATRONI_COMPATIBLE_VERSION, PGHA_VERSION } from './version.js';
import { MANUAL, USAGE } from './help.js';
import type { RunningAgent as Agent } from './agent.js';

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    // node's own argument parser: unknown options and a missing --dsn value are refused with a reason.
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
        'validate-config': { type: 'boolean' },
        'generate-config': { type: 'boolean' },
        'generate-sample-config': { type: 'boolean' },
        dsn: { type: 'string' },
      },
    });
  } catch (e) {
    const message = (e as Error).message.replace(/^Unknown option '([^']+)'.*$/s, 'unknown option $1');
    console.error(`pgha: ${message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(MANUAL);
    return 0;
  }
  if (values.version) {
    console.log(`pgha ${PGHA_VERSION} (Patroni ${PATRONI_COMPATIBLE_VERSION} compatible)`);
    return 0;
  }
  if (positionals.length > 1) {
    console.error(`pgha: one configuration path expected, got ${positionals.length}\n${USAGE}`);
    return 2;
  }
  const path = positionals[0];
  if (values['generate-config'] || values['generate-sample-config']) {
    const { generateConfigCommand } = await importWithoutFetchGlobals(() => import('./generate-command.js'));
    try {
      await generateConfigCommand({ dsn: values['generate-sample-config'] ? undefined : values.dsn, output: path, env: process.env });
    } catch (e) {
      console.error(`pgha: ${(e as Error).message}`);
      return 1;
    }
    return 0;
  }
  // Loaded here, not imported at the top, so that pg loads without Node's fetch globals (see the module).
  const { loadAgentConfig, startAgent, takeEnvironment } = await importWithoutFetchGlobals(() => import('./agent.js'));
  // Out of the environment before anything is started: PostgreSQL and scripts inherit it.
  const env = takeEnvironment(process.env);
  let loaded;
  try {
    loaded = await loadAgentConfig(path, env);
  } catch (e) {
    console.error(`pgha: ${(e as Error).message}`);
    return 1;
  }
  for (const w of loaded.warnings) console.error(`pgha: warning: ${w}`);
  if (values['validate-config']) {
    console.log(`${path ?? 'PATRONI_CONFIGURATION'}: configuration is valid`);
    return 0;
  }
  // systemd's variables are ours alone: a postmaster that inherited NOTIFY_SOCKET would tell
  // systemd it is ready (Debian builds PostgreSQL with sd_notify) on the agent's behalf.
  const notifyEnv = { NOTIFY_SOCKET: process.env['NOTIFY_SOCKET'], WATCHDOG_USEC: process.env['WATCHDOG_USEC'], WATCHDOG_PID: process.env['WATCHDOG_PID'] };
  for (const name of Object.keys(notifyEnv)) delete process.env[name];
  let agent;
  try {
    agent = await startAgent({ ...(path ? { configPath: path } : {}), raw: loaded.raw, config: loaded.config, env });
  } catch (e) {
    // A refusal to start is one line for the operator, not a stack trace.
    if ((e as { code?: unknown }).code === 'AGENT_DUPLICATE_NAME') {
      console.error(`pgha: ${(e as Error).message}`);
      return 1;
    }
    throw e;
  }
  const { fencePostgres, installFaultInjection, installLastResort } = await import('./last-resort.js');
  const { mayBePrimaryAtExit } = await import('@pgha/ha-engine');
  installLastResort({
    logger: agent.logger,
    mayBePrimary: () => {
      const s = agent.loop.status();
      return mayBePrimaryAtExit({ holdsLock: s.holdsLock, local: s.local, running: s.running, startedWritable: false });
    },
    // The controller's fence does not wait for a running promote or demote (no lifecycle lock).
    fence: () => fencePostgres(() => agent.controller.fence(), loaded.config.postgresql.data_dir),
    boundMs: 15_000,
    exit: (code) => process.exit(code),
  });
  installFaultInjection(process.env['PGHA_FAULT_INJECTION'], agent.logger);
  const { systemdNotifier } = await import('./systemd/notify.js');
  const systemd = systemdNotifier(notifyEnv, (m) => agent.logger.warn(`systemd: ${m}`));
  let stops = 0;
  const stop = () => {
    stops += 1;
    if (stops > 1) {
      agent.logger.warn('second stop signal: exiting now');
      process.exit(1);
    }
    systemd?.stopping();
    void agent.shutdown();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', () => {
    systemd?.reloading();
    void agent.reload().finally(() => systemd?.ready(agentStatus(agent)));
  });
  if (systemd) void readyOnceJoined(agent, () => systemd.ready(agentStatus(agent)));
  const code = await agent.finished;
  systemd?.close();
  return code;
}


/** systemd's STATUS= line: what `systemctl status` shows under the unit. */
function agentStatus(agent: Agent): string {
  const s = agent.loop.status();
  return `${s.role}${s.holdsLock ? ', leader' : s.leader ? `, following ${s.leader}` : ''}: ${s.lastReason ?? 'starting'}`;
}

/**
 * READY=1 once the API serves (startAgent has returned) and the first HA cycle has run, which
 * wrote this member's key: the member has joined the cluster. Checked on a short timer because
 * it happens once per start.
 */
async function readyOnceJoined(agent: Agent, ready: () => void): Promise<void> {
  let stopped = false;
  void agent.finished.then(() => (stopped = true));
  while (!stopped && agent.loop.status().lastCycleAt === null) await new Promise((r) => setTimeout(r, 100));
  if (!stopped) ready();
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    // An error with a stable code (WATCHDOG_*, PG_*, DCS_*) was meant for the operator: its
    // message and code say it all. Anything else is a bug: the stack helps.
    const code = (e as { code?: unknown } | null)?.code;
    const coded = typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code);
    console.error(`pgha: ${coded ? `${(e as Error).message} (${code})` : ((e as Error).stack ?? String(e))}`);
    process.exit(1);
  },
);
