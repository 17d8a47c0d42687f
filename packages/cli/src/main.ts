/**
 * `runCli`: parses the command line, builds the command context and runs one command. It never
 * throws: errors become `Error: <one line>` on stderr and a non-zero status (2 for usage errors,
 * as click does), and the DCS connections opened on the way are closed before it returns.
 */
import type { DriverFactory } from '@pgha/dcs';
import { GLOBAL_OPTIONS, describeOptions, parseOptions } from './args.js';
import { loadCtlConfig } from './ctl-config.js';
import { createStoreRegistry, dcsError, type CommandContext } from './context.js';
import { CliError, CliErrorCode, isCliError } from './errors.js';
import { createApiClient } from './member-api.js';
import { render, type Output } from './output.js';
import { createPrompter } from './prompt.js';
import type { CommandDefinition } from './commands/command.js';
import { demoteClusterCommand, promoteClusterCommand } from './commands/cluster-role.js';
import { editConfigCommand, pauseCommand, resumeCommand } from './commands/config.js';
import { dashboardCommand } from './commands/dashboard.js';
import { explainCommand } from './commands/explain.js';
import { configureCommand, removeCommand, scaffoldCommand } from './commands/maintenance.js';
import { flushCommand, reinitCommand, reloadCommand, restartCommand } from './commands/members.js';
import { queryCommand } from './commands/query.js';
import { dsnCommand, historyCommand, listCommand, showConfigCommand, topologyCommand, versionCommand } from './commands/read.js';
import { failoverCommand, switchoverCommand } from './commands/switchover.js';
import { isDcsError, sleep as realSleep } from '@pgha/dcs';

export const COMMANDS: readonly CommandDefinition[] = [
  configureCommand,
  dashboardCommand,
  demoteClusterCommand,
  dsnCommand,
  editConfigCommand,
  explainCommand,
  failoverCommand,
  flushCommand,
  historyCommand,
  listCommand,
  pauseCommand,
  promoteClusterCommand,
  queryCommand,
  reinitCommand,
  reloadCommand,
  removeCommand,
  restartCommand,
  resumeCommand,
  scaffoldCommand,
  showConfigCommand,
  switchoverCommand,
  topologyCommand,
  versionCommand,
];

export interface CliIo {
  stdin: NodeJS.ReadableStream;
  stdout(text: string): void;
  stderr(text: string): void;
  stdoutIsTTY: boolean;
  stdinIsTTY: boolean;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
}

export interface CliDependencies {
  /** Replaces the configured DCS (tests use the in-memory driver). */
  createDriver?: DriverFactory;
  /** Deadline of one REST call, ms. Default 10 s (patronictl uses urllib3 defaults, no limit). */
  apiTimeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
}

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'Usage: pghactl [OPTIONS] COMMAND [ARGS]...',
    '',
    'Options:',
    describeOptions(GLOBAL_OPTIONS),
    '  --help'.padEnd(width + 2) + 'Show this message and exit.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.help}`),
  ].join('\n');
}

function commandUsage(c: CommandDefinition): string {
  return [`Usage: pghactl ${c.name} [OPTIONS] ${c.args}`.trimEnd(), '', `  ${c.help}`, '', 'Options:', describeOptions(c.options), '  --help  Show this message and exit.'].join('\n');
}

const RED = '\u001b[31m';
const RESET = '\u001b[0m';

export async function runCli(argv: readonly string[], io: CliIo, deps: CliDependencies = {}): Promise<number> {
  const emit = (out: Output): void => io.stdout(render(out, { color: io.stdoutIsTTY }));
  const stores: { closeAll(): Promise<void> }[] = [];
  let commandName = '';
  try {
    const global = parseOptions(argv, GLOBAL_OPTIONS, '', true);
    const [name, ...rest] = global.positionals;
    if (global.help || name === undefined) {
      io.stdout(`${usage()}\n`);
      return name === undefined && !global.help ? 0 : 0;
    }
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) throw new CliError(CliErrorCode.Usage, `No such command '${name}'.`);
    commandName = command.name;
    const parsed = parseOptions(rest, command.options, command.name);
    if (parsed.help) {
      io.stdout(`${commandUsage(command)}\n`);
      return 0;
    }
    const g = global.options;
    const config = loadCtlConfig({
      configFile: typeof g.configFile === 'string' ? g.configFile : undefined,
      dcsUrl: typeof g.dcsUrl === 'string' ? g.dcsUrl : undefined,
      insecure: g.insecure === true,
      env: io.env,
      cwd: io.cwd,
    });
    const registry = createStoreRegistry({ config, createDriver: deps.createDriver });
    stores.push(registry);
    const sleep = deps.sleep ?? ((ms: number) => realSleep(ms));
    const dcsCall = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
      try {
        return await call();
      } catch (e) {
        if (isDcsError(e)) throw dcsError(config, what, e);
        throw e;
      }
    };
    const ctx: CommandContext = {
      config,
      emit,
      warn: (text) => io.stderr(`Warning: ${text}\n`),
      prompter: createPrompter({ input: io.stdin, write: io.stdout, inputIsTTY: io.stdinIsTTY }),
      api: createApiClient({ auth: config.auth, tls: config.tls, timeoutMs: deps.apiTimeoutMs ?? 10_000 }),
      clusterName(arg) {
        const n = arg ?? config.scope;
        if (n === undefined || n === '') {
          throw new CliError(CliErrorCode.Usage, `Missing argument 'CLUSTER_NAME' (and no 'scope' in ${config.path ?? 'the configuration'} to default to).`);
        }
        return n;
      },
      store: (scope) => registry.open(scope),
      async loadCluster(scope) {
        const store = await registry.open(scope);
        return dcsCall(`reading cluster ${scope}`, () => store.loadCluster());
      },
      dcsCall,
      sleep,
      now: deps.now ?? (() => new Date()),
      env: io.env,
      cwd: io.cwd,
      stdin: io.stdin,
    };
    return await command.run(ctx, parsed);
  } catch (e) {
    if (isCliError(e)) {
      if (e.code === CliErrorCode.Usage) {
        io.stderr(`Usage: pghactl ${commandName ? `${commandName} ` : ''}[OPTIONS]${commandName ? '' : ' COMMAND [ARGS]...'}\nTry 'pghactl${commandName ? ` ${commandName}` : ''} --help' for help.\n\n`);
      }
      const prefix = io.stdoutIsTTY ? `${RED}Error:${RESET}` : 'Error:';
      io.stderr(`${prefix} ${e.message.split('\n')[0]}\n`);
      return e.exitCode;
    }
    io.stderr(`Error: unexpected failure: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  } finally {
    await Promise.all(stores.map((s) => s.closeAll()));
  }
}
