/**
 * ZooKeeper's own command-line client (Debian's `zookeeper` package), as an operator or another
 * program on the network would use it: one JVM per call, commands on stdin, optionally after
 * `addauth`. Its exit code is 0 whatever the commands did; callers read the output.
 */
import { spawn } from 'node:child_process';
import type { LocalCluster } from '@pgha/local-cluster';

export const ZKCLI = process.env['PGHA_ZKCLI'] ?? '/usr/share/zookeeper/bin/zkCli.sh';

/** Runs `commands` in one zkCli session on the cluster's ZooKeeper; `auth` is `scheme credential` for `addauth`. */
export function zkCli(cluster: LocalCluster, commands: string[], auth?: string): Promise<string> {
  const input = [...(auth ? [`addauth ${auth}`] : []), ...commands, 'quit', ''].join('\n');
  return new Promise((resolve, reject) => {
    const child = spawn(ZKCLI, ['-server', cluster.dcs.endpoints.join(',')], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    child.stdin.end(input);
  });
}

/** The ACL lines of a `getAcl` reply, e.g. `digest:pgha:…=:cdrwa`, sorted. */
export function parseAcl(output: string): string[] {
  const lines = output.split('\n');
  const acl: string[] = [];
  for (let i = 0; i < lines.length - 1; i++) {
    const id = /^'(\w+),'(.*)$/.exec(lines[i]!.trim());
    const perms = /^: ([cdrwa]+)$/.exec(lines[i + 1]!.trim());
    if (id && perms) acl.push(`${id[1]}:${id[2]}:${perms[1]}`);
  }
  return acl.sort();
}
