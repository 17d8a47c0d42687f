// Development entry point: start a server on loopback, print where it listens, stop it on Ctrl-C.
//   pnpm exec tsx --conditions=@pgha/source tools/servers/src/cli.ts etcd [--members 3]
//   pnpm exec tsx --conditions=@pgha/source tools/servers/src/cli.ts zookeeper [--members 3]
// Each server kind registers one sub-command in `commands`.
import { parseArgs } from 'node:util';
import { startEtcd } from './etcd.js';
import { startZooKeeper } from './zookeeper.js';

/** A running server as the CLI sees it: something to print and something to stop. */
interface Running {
  describe(): string;
  stop(): Promise<void>;
}

interface SubCommand {
  usage: string;
  run(args: string[]): Promise<Running>;
}

const commands: Record<string, SubCommand> = {
  etcd: {
    usage: 'etcd [--members 1|3]',
    async run(args) {
      const { values } = parseArgs({ args, options: { members: { type: 'string', default: '1' } } });
      const members = Number(values.members);
      if (members !== 1 && members !== 3) throw new Error(`--members must be 1 or 3, got ${values.members}`);
      const cluster = await startEtcd({ members });
      return {
        describe: () =>
          [
            `etcd ${members === 1 ? 'server' : `cluster of ${members}`} running`,
            `endpoints: ${cluster.endpoints.join(',')}`,
            `data: ${cluster.members.map((m) => m.dataDir).join(' ')}`,
            `patroni: etcd3: {hosts: ${cluster.endpoints.map((e) => e.replace(/^https?:\/\//, '')).join(',')}}`,
          ].join('\n'),
        stop: () => cluster.stop(),
      };
    },
  },
  zookeeper: {
    usage: 'zookeeper [--members 1|3] [--tick-time ms]',
    async run(args) {
      const { values } = parseArgs({
        args,
        options: { members: { type: 'string', default: '1' }, 'tick-time': { type: 'string', default: '500' } },
      });
      const members = Number(values.members);
      if (members !== 1 && members !== 3) throw new Error(`--members must be 1 or 3, got ${values.members}`);
      const tickTime = Number(values['tick-time']);
      if (!Number.isInteger(tickTime) || tickTime < 1) throw new Error(`--tick-time must be a positive integer, got ${values['tick-time']}`);
      const ensemble = await startZooKeeper({ members, tickTime });
      return {
        describe: () =>
          [
            `ZooKeeper ${members === 1 ? 'server' : `ensemble of ${members}`} running (tickTime ${tickTime} ms, sessions ${2 * tickTime}-${20 * tickTime} ms)`,
            `connect: ${ensemble.connectString}`,
            `data: ${ensemble.members.map((m) => m.dataDir).join(' ')}`,
            `patroni: zookeeper: {hosts: [${ensemble.connectString}]}`,
          ].join('\n'),
        stop: () => ensemble.stop(),
      };
    },
  },
};

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  const command = name === undefined ? undefined : commands[name];
  if (!command) {
    console.error(`usage: cli.ts <command>\ncommands:\n${Object.values(commands).map((c) => `  ${c.usage}`).join('\n')}`);
    process.exitCode = 2;
    return;
  }
  const running = await command.run(rest);
  console.log(running.describe());
  console.log('press Ctrl-C to stop');
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    running.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        console.error(e);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
