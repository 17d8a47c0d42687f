/** remove (wipe a cluster from the DCS), scaffold (create its `initialize` key), configure (write a ctl config). */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseDcsUrl } from '../ctl-config.js';
import { listDialect, membersTable } from '../cluster-view.js';
import { CliError, CliErrorCode } from '../errors.js';
import { pythonYaml } from '../python-text.js';
import { FORMAT_OPTION, GROUP_OPTION, formatOpt, positionals, stringOpt, type CommandDefinition } from './command.js';
import { loadExistingCluster } from './read.js';

export const removeCommand: CommandDefinition = {
  name: 'remove',
  help: 'Remove cluster from DCS',
  args: 'CLUSTER_NAME',
  options: [GROUP_OPTION, FORMAT_OPTION],
  async run(ctx, parsed) {
    const [name] = positionals(parsed, 1, 'remove');
    if (name === undefined) throw new CliError(CliErrorCode.Usage, "Missing argument 'CLUSTER_NAME'.");
    const cluster = await loadExistingCluster(ctx, name);
    ctx.emit(membersTable(cluster, { patroniDialect: listDialect(cluster, ctx.config.raw['patroni_compatibility']), name, format: formatOpt(parsed) }));
    const confirm = await ctx.prompter.prompt('Please confirm the cluster name to remove');
    if (confirm !== name) throw new CliError(CliErrorCode.Aborted, 'Cluster names specified do not match');
    const message = 'Yes I am aware';
    const typed = await ctx.prompter.prompt(`You are about to remove all information in DCS for ${name}, please type: "${message}"`);
    if (typed !== message) throw new CliError(CliErrorCode.Aborted, `You did not exactly type "${message}"`);
    if (cluster.leader?.name) {
      const leader = await ctx.prompter.prompt('This cluster currently is healthy. Please specify the leader name to continue');
      if (leader !== cluster.leader.name) throw new CliError(CliErrorCode.Aborted, 'You did not specify the current leader of the cluster');
    }
    const store = await ctx.store(name);
    await ctx.dcsCall(`removing cluster ${name}`, () => store.deleteCluster());
    return 0;
  },
};

export const scaffoldCommand: CommandDefinition = {
  name: 'scaffold',
  help: 'Create a structure for the cluster in DCS',
  args: 'CLUSTER_NAME',
  options: [{ key: 'sysid', flags: ['-s', '--sysid'], kind: 'value', help: 'System ID of the cluster to put into the initialize key' }],
  async run(ctx, parsed) {
    const [name] = positionals(parsed, 1, 'scaffold');
    if (name === undefined) throw new CliError(CliErrorCode.Usage, "Missing argument 'CLUSTER_NAME'.");
    const sysid = stringOpt(parsed, 'sysid') ?? '';
    if (sysid !== '' && !/^\d+$/.test(sysid)) throw new CliError(CliErrorCode.Usage, `--sysid: '${sysid}' is not a PostgreSQL system identifier (digits only)`);
    const cluster = await ctx.loadCluster(name);
    if (cluster.initialize !== null) throw new CliError(CliErrorCode.Refused, 'This cluster is already initialized');
    const store = await ctx.store(name);
    const ok = await ctx.dcsCall('writing the initialize key', () => store.setInitialize(sysid, null));
    if (!ok) throw new CliError(CliErrorCode.Refused, 'Could not initialize this cluster');
    ctx.emit({ kind: 'text', text: `Cluster ${name} has been created successfully` });
    return 0;
  },
};

export const configureCommand: CommandDefinition = {
  name: 'configure',
  help: 'Create configuration file',
  args: '',
  options: [
    { key: 'file', flags: ['-c', '--config-file'], kind: 'value', help: 'Configuration file to write (default: the global -c, else ~/.config/pgha/pghactl.yaml)' },
    { key: 'dcs', flags: ['-d', '--dcs-url', '--dcs'], kind: 'value', help: 'The DCS connect url (etcd3://host:port, zookeeper://host:port)' },
    { key: 'namespace', flags: ['-n', '--namespace'], kind: 'value', help: 'The namespace' },
    { key: 'scope', flags: ['--scope'], kind: 'value', help: 'The default cluster name' },
  ],
  async run(ctx, parsed) {
    positionals(parsed, 0, 'configure');
    const home = ctx.env.HOME ?? homedir();
    const file = resolve(ctx.cwd, stringOpt(parsed, 'file') ?? ctx.config.path ?? join(home, '.config', 'pgha', 'pghactl.yaml'));
    const dcs = stringOpt(parsed, 'dcs');
    if (!dcs) throw new CliError(CliErrorCode.Usage, "Missing option '-d' / '--dcs-url'.");
    const parsedUrl = parseDcsUrl(dcs);
    const data: Record<string, unknown> = { [parsedUrl.section]: parsedUrl.settings };
    const namespace = stringOpt(parsed, 'namespace') ?? parsedUrl.namespace;
    if (namespace) data.namespace = namespace;
    const scope = stringOpt(parsed, 'scope');
    if (scope) data.scope = scope;
    if (!existsSync(dirname(file))) mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, pythonYaml(data));
    ctx.emit({ kind: 'text', text: `Configuration written to ${file}` });
    return 0;
  },
};
