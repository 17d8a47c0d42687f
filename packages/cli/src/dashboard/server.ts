/**
 * The dashboard's HTTP server (node:http): the static page, uPlot from node_modules, and
 * `GET /api/view`, the newest view as JSON, which the page polls. A sampler reads the cluster
 * every `intervalMs` whether or not a page is open, so the lag chart has history when one opens.
 * Only GET and HEAD are served: the dashboard shows, it never acts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { collectSample, type Collector } from './collect.js';
import { emptyLagHistory, recordLag, type LagHistory } from './lag-history.js';
import { dashboardView, lagsOf, memberRows, type DashboardView } from './view.js';

export interface DashboardOptions extends Collector {
  scope: string;
  host: string;
  port: number;
  intervalMs: number;
  /** Told about a sample that failed outright (a bug, not a DCS or member failure). */
  onError(e: unknown): void;
}

export interface Dashboard {
  /** `http://host:port/`, with the port actually bound. */
  url: string;
  close(): Promise<void>;
}

/**
 * The page's own files: next to this module in the sources (src/dashboard/static), under
 * dist/dashboard/static once built, since tsup bundles this module into dist/*.js.
 */
function staticDir(): string {
  const candidates = ['./static/', './dashboard/static/'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
  const found = candidates.find((d) => existsSync(`${d}index.html`));
  if (!found) throw new Error(`the dashboard's page is missing: looked in ${candidates.join(', ')}`);
  return found;
}

interface Asset {
  type: string;
  path: string;
}

function assets(): Map<string, Asset> {
  const dir = staticDir();
  const uplot = createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js');
  return new Map<string, Asset>([
    ['/', { type: 'text/html; charset=utf-8', path: `${dir}index.html` }],
    ['/app.js', { type: 'text/javascript; charset=utf-8', path: `${dir}app.js` }],
    ['/style.css', { type: 'text/css; charset=utf-8', path: `${dir}style.css` }],
    ['/vendor/uPlot.iife.min.js', { type: 'text/javascript; charset=utf-8', path: uplot }],
    ['/vendor/uPlot.min.css', { type: 'text/css; charset=utf-8', path: uplot.replace(/uPlot\.iife\.min\.js$/, 'uPlot.min.css') }],
  ]);
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  // Everything the page needs comes from this server; nothing inline, no frames.
  'content-security-policy': "default-src 'self'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
};

export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  const files = assets();
  // Read once: the files do not change while the dashboard runs.
  const bodies = new Map([...files].map(([route, a]) => [route, readFileSync(a.path)]));
  let lag: LagHistory = emptyLagHistory();
  let view: DashboardView | null = null;
  let sampledAt = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let sampling: Promise<void> = Promise.resolve();

  const sampleOnce = async (): Promise<void> => {
    try {
      const sample = await collectSample(o.scope, o);
      lag = recordLag(lag, { at: sample.now, lags: lagsOf(memberRows(sample)) });
      view = dashboardView(sample, lag);
      sampledAt = sample.now;
    } catch (e) {
      o.onError(e);
    }
  };
  const loop = (): void => {
    if (stopped) return;
    sampling = sampleOnce().then(() => {
      if (!stopped) timer = setTimeout(loop, o.intervalMs);
    });
  };

  const send = (res: ServerResponse, status: number, type: string, body: Buffer | string, extra: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': type, ...SECURITY_HEADERS, ...extra });
    res.end(body);
  };
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain; charset=utf-8', 'the dashboard is read-only: GET only\n', { allow: 'GET, HEAD' });
      return;
    }
    const path = new URL(req.url ?? '/', 'http://dashboard').pathname;
    if (path === '/api/view') {
      if (!view) send(res, 503, 'application/json', JSON.stringify({ error: 'no sample yet' }), { 'cache-control': 'no-store', 'retry-after': '1' });
      // The sample's age as served, so the page counts the lock down from the right point
      // without comparing its clock with this machine's.
      else send(res, 200, 'application/json', JSON.stringify({ ...view, ageS: Math.max(0, o.now() - sampledAt) / 1000 }), { 'cache-control': 'no-store' });
      return;
    }
    const asset = files.get(path);
    const body = bodies.get(path);
    if (!asset || !body) {
      send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
      return;
    }
    send(res, 200, asset.type, body, { 'cache-control': 'no-cache' });
  };

  const server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  loop();
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}/`,
    async close() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await sampling;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
