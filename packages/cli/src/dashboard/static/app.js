// The dashboard page: polls GET /api/view (built by the server from the DCS and the members'
// APIs, see ../view.ts) and draws it. All logic about the cluster lives on the server; this only
// draws, and counts the leader lock's time to live down between two polls.
'use strict';

const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);

/** An element with text (never HTML: values come from the DCS and member APIs). */
function el(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (className) e.className = className;
  return e;
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) tr.append(c instanceof Node ? c : el('td', c));
  return tr;
}

function td(content, className) {
  const cell = el('td', undefined, className);
  if (content instanceof Node) cell.append(content);
  else if (content !== undefined && content !== null) cell.textContent = String(content);
  return cell;
}

function fill(tbody, rows, empty, columns) {
  tbody.replaceChildren(...(rows.length > 0 ? rows : [row([Object.assign(el('td', empty, 'muted'), { colSpan: columns })])]));
}

/** 1536 → `1.5 kB`: the lag axis spans bytes to gigabytes. */
function bytes(n) {
  if (n === null || n === undefined) return '';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** Tick steps of the lag axis: 1, 2, 5 × powers of 1024, so ticks fall on round kB / MB / GB. */
const BYTE_STEPS = [0, 1, 2, 3, 4].flatMap((k) => [1, 2, 5, 10, 20, 50, 100, 200, 500].map((m) => m * 1024 ** k));

const roleText = { leader: 'Leader', standby_leader: 'Standby Leader', sync_standby: 'Sync Standby', replica: 'Replica' };

let lock = null; // { remainingS, ttlS, at }: the lock as of the sample the last poll got
let chart = null;
let chartSeries = '';

function drawLock() {
  const ttl = $('leader-ttl');
  const bar = $('leader-ttl-bar');
  if (!lock || lock.remainingS === null) {
    ttl.textContent = lock ? 'unknown' : '—';
    bar.style.width = '0';
    return;
  }
  const left = Math.max(0, lock.remainingS - (performance.now() - lock.at) / 1000);
  ttl.textContent = `${left.toFixed(1)} s`;
  bar.style.width = `${Math.min(100, (100 * left) / lock.ttlS)}%`;
  bar.classList.toggle('low', left < lock.ttlS / 3);
}

function drawChart(view) {
  const box = $('lag-chart');
  const points = view.lagData[0] ? view.lagData[0].length : 0;
  box.dataset.points = String(points);
  box.dataset.series = view.lagSeries.join(',');
  if (typeof uPlot === 'undefined') return;
  const key = view.lagSeries.join(',');
  const palette = ['#1565c0', '#2e7d32', '#c62828', '#6a1b9a', '#ef6c00', '#00838f'];
  if (!chart || key !== chartSeries) {
    chart?.destroy();
    chartSeries = key;
    chart = new uPlot(
      {
        width: Math.max(300, box.clientWidth),
        height: 240,
        scales: { x: { time: true } },
        series: [{}, ...view.lagSeries.map((name, i) => ({ label: name, stroke: palette[i % palette.length], width: 2, spanGaps: false, points: { show: false }, value: (_u, v) => bytes(v) }))],
        axes: [{}, { size: 80, incrs: BYTE_STEPS, values: (_u, ticks) => ticks.map(bytes) }],
      },
      view.lagData,
      box,
    );
  } else {
    chart.setData(view.lagData);
  }
}

function draw(view) {
  document.title = `${view.title} · pgha`;
  $('title').textContent = view.title;
  $('sampled').textContent = `sampled ${new Date(view.sampledAt).toLocaleTimeString()}`;

  const name = $('leader-name');
  name.textContent = view.leader ? view.leader.name : 'none';
  name.classList.toggle('none', !view.leader);
  // `ageS`: how old the sample was when served; the countdown starts from the sample's time.
  lock = view.leader ? { remainingS: view.leader.remainingS, ttlS: view.leader.ttlS, at: performance.now() - 1000 * (view.ageS ?? 0) } : null;
  $('leader-ttl-of').textContent = view.leader ? `(ttl ${view.leader.ttlS} s${view.leader.renewalAgeS === null ? '; the leader reports no renewal age' : ''})` : '';
  drawLock();
  $('pause').textContent = view.paused ? 'Maintenance mode: on' : 'Maintenance mode: off';
  const s = view.scheduledSwitchover;
  $('scheduled').textContent = s ? `Switchover scheduled at ${s.at}${s.from ? ` from ${s.from}` : ''}${s.to ? ` to ${s.to}` : ''}` : '';
  $('readiness').textContent = view.readiness ? `Failover: ${view.readiness}` : '';

  const alerts = view.alerts.map((a) => Object.assign(el('li', a.text, a.severity), { title: a.code }));
  for (const [i, a] of view.alerts.entries()) {
    alerts[i].dataset.code = a.code;
    if (a.member) alerts[i].dataset.member = a.member;
  }
  $('alerts').replaceChildren(...(alerts.length > 0 ? alerts : [el('li', 'none', 'muted')]));

  const members = view.members.map((m) => {
    const tr = row([
      td(m.name),
      td(m.host),
      td(roleText[m.role] ?? m.role, `role role-${m.role}`),
      td(m.state, m.role.endsWith('leader') || m.state === 'streaming' || m.state === 'running' ? 'state' : 'state state-bad'),
      td(m.timeline, 'num'),
      td(bytes(m.lagBytes), 'num'),
      td(m.replayLagMs === null ? '' : `${(m.replayLagMs / 1000).toFixed(1)} s`, 'num'),
      td(m.apiError ? `API: ${m.apiError}` : (m.lastReason ?? ''), m.apiError ? 'state-bad' : 'muted'),
    ]);
    tr.dataset.member = m.name;
    tr.dataset.role = m.role;
    if (m.role.endsWith('leader')) tr.className = 'is-leader';
    return tr;
  });
  fill($('members').tBodies[0], members, 'no members', 8);

  const decisions = [...view.decisions].reverse().map((d) => {
    const verdicts = document.createElement('span');
    for (const c of d.candidates) verdicts.append(el('span', `${c.member}: ${c.verdict}`, `verdict ${c.verdict.split(':')[0]}`));
    const tr = row([td(new Date(d.time).toLocaleTimeString()), td(d.member), td(el('code', d.code)), td(d.reason), td(verdicts)]);
    tr.dataset.code = d.code;
    return tr;
  });
  fill($('decisions').tBodies[0], decisions, 'no failover or switchover in the members’ decision records', 5);

  const history = [...view.history].reverse().map((h) => row([td(h.timeline, 'num'), td(h.lsn), td(h.reason), td(h.timestamp ?? ''), td(h.newLeader ?? '')]));
  fill($('history').tBodies[0], history, 'no timeline switch yet', 5);

  drawChart(view);
}

async function poll() {
  try {
    const r = await fetch('/api/view', { cache: 'no-store' });
    if (r.ok) draw(await r.json());
    else $('sampled').textContent = `the dashboard answered ${r.status}`;
  } catch (e) {
    $('sampled').textContent = `the dashboard does not answer: ${e.message}`;
  }
  setTimeout(poll, POLL_MS);
}

setInterval(drawLock, 200);
window.addEventListener('resize', () => chart?.setSize({ width: Math.max(300, $('lag-chart').clientWidth), height: 240 }));
poll();
