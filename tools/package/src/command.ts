/** Running the build's tools (pnpm, npm, dpkg-deb) as child processes. */
import { execFile } from 'node:child_process';

export interface CommandOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
}

/** A tool that failed: the command line and the end of its output, which is where the reason is. */
export class CommandError extends Error {
  readonly code = 'PACKAGE_COMMAND_FAILED';
}

/** Runs `command args` to completion and returns its stdout; rejects with CommandError on a non-zero exit. */
export function run(command: string, args: string[], options: CommandOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: options.cwd, env: options.env ?? process.env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        const tail = `${stdout}\n${stderr}`.trim().split('\n').slice(-30).join('\n');
        const how = typeof error.code === 'number' ? `exited with code ${error.code}` : error.message;
        reject(new CommandError(`${command} ${args.join(' ')} (in ${options.cwd}) ${how}:\n${tail}`));
      } else {
        resolve(stdout);
      }
    });
  });
}

/**
 * The environment native addons (zookeeper, unix-dgram) are built in: against the installed
 * Node's headers when they are there (as tools/scripts/setup.sh does), since node-gyp would
 * otherwise download them, which this machine's network does not allow.
 */
export function addonBuildEnv(env: NodeJS.ProcessEnv, hasNodeHeaders: boolean): NodeJS.ProcessEnv {
  if (env['npm_config_nodedir'] || !hasNodeHeaders) return env;
  return { ...env, npm_config_nodedir: '/usr' };
}
