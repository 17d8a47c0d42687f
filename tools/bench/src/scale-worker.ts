/**
 * A scale-bench worker process (forked by `scale-run.ts`, talks over the IPC channel): runs its
 * share of the clusters (`scale-members.ts`) and answers the parent's requests.
 *
 *   parent → worker: start (the share) · measure (the window begins) · sample (it ends) · stop
 *   worker → parent: leaders (count, while starting) · started · sample · stopped · failed
 */
import type { Logger } from '@pgha/dcs';
import { Share, type ShareOptions } from './scale-members.js';
import type { WorkerSample } from './scale-merge.js';

export type ShareSpec = Omit<ShareOptions, 'batchStartMs' | 'firstClusterLogger'> & {
  /** Batch `j` starts at `firstBatchMs + j * batchEveryMs` after the share starts. */
  firstBatchMs: number;
  batchEveryMs: number;
  /** Cluster 0's drivers and loops log to stderr. */
  debug: boolean;
};

export type ToWorker = { type: 'start'; share: ShareSpec } | { type: 'measure' } | { type: 'sample' } | { type: 'stop' };
export type FromWorker =
  | { type: 'leaders'; count: number }
  | { type: 'started'; members: number }
  | { type: 'sample'; sample: WorkerSample }
  | { type: 'stopped' }
  | { type: 'failed'; message: string };

const send = (m: FromWorker) => process.send!(m);
const log = (message: string) => process.stderr.write(`${new Date().toISOString()} ${message}\n`);

function stderrLogger(): Logger {
  const line = (level: string) => (obj: object | string, msg?: string) => log(`c0 ${level} ${msg ?? ''} ${typeof obj === 'string' ? obj : JSON.stringify(obj).slice(0, 400)}`);
  return { debug: () => undefined, info: line('info'), warn: line('warn'), error: line('error') };
}

let share: Share | null = null;
let cpuBefore: NodeJS.CpuUsage | null = null;
let leaderTimer: NodeJS.Timeout | null = null;
let stopped = false;

async function handle(m: ToWorker): Promise<void> {
  switch (m.type) {
    case 'start': {
      const { firstBatchMs, batchEveryMs, debug, ...rest } = m.share;
      share = new Share({ ...rest, batchStartMs: (j) => firstBatchMs + j * batchEveryMs, ...(debug ? { firstClusterLogger: stderrLogger() } : {}) });
      let reported = -1;
      leaderTimer = setInterval(() => {
        const count = share?.recorder.leaders.size ?? 0;
        if (count !== reported) send({ type: 'leaders', count: (reported = count) });
      }, 250);
      await share.start();
      send({ type: 'started', members: share.memberCount });
      return;
    }
    case 'measure':
      cpuBefore = process.cpuUsage();
      share!.recorder.measuring = true;
      return;
    case 'sample':
      share!.recorder.measuring = false;
      send({ type: 'sample', sample: share!.sample(cpuBefore ?? process.cpuUsage()) });
      return;
    case 'stop':
      if (leaderTimer) clearInterval(leaderTimer);
      await share?.stop();
      stopped = true;
      send({ type: 'stopped' });
      process.disconnect();
      return;
  }
}

process.on('message', (m: ToWorker) => {
  handle(m).catch((e: unknown) => send({ type: 'failed', message: (e as Error).stack ?? String(e) }));
});
// The parent gone (killed, crashed): end the sessions rather than leave loops renewing.
process.on('disconnect', () => {
  if (leaderTimer) clearInterval(leaderTimer);
  if (stopped || !share) process.exit(0);
  void share.stop().finally(() => process.exit(0));
});
