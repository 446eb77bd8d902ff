/// The console's script and style sheet, served from memory: no build step,
/// no registry, no inline code (the Content-Security-Policy allows only these).
enum ConsoleAssets {
    static let script = #"""
'use strict';
(function () {
  function meta(n) { const m = document.querySelector('meta[name="' + n + '"]'); return m ? m.content : null; }
  function say(text, bad) { const s = document.getElementById('status'); if (s) { s.textContent = text; s.className = bad ? 'bad' : 'ok'; } }

  // Sound, by Web Audio. A browser lets a page sound only after a click on
  // it, so the first click anywhere turns sound on; the button says so.
  let audio = null;
  function soundOn() {
    if (!audio) { try { audio = new AudioContext(); } catch (e) { return; } }
    audio.resume();
    const b = document.getElementById('sound');
    if (b) b.textContent = 'Sound: on';
  }
  document.addEventListener('click', soundOn);
  function beep(priority) {
    window.panicBeeps = (window.panicBeeps || 0) + 1;
    if (!audio || audio.state !== 'running') return;
    const o = audio.createOscillator(), g = audio.createGain(), t = audio.currentTime;
    o.frequency.value = priority === 0 ? 880 : 660;
    g.gain.value = 0.25;
    o.connect(g); g.connect(audio.destination);
    o.start(t); o.stop(t + (priority === 0 ? 0.8 : 0.4));
  }

  if (meta('page') !== 'queue') return;
  const csrf = meta('csrf');
  let cursor = Number(meta('cursor') || 0);
  const warnMs = Number(meta('warn-after-ms')), dangerMs = Number(meta('danger-after-ms'));
  const body = document.getElementById('queue-body');
  // When each incident was first on this page (the tests' latency figure).
  window.panicSeen = {};

  function cell(tr, text, cls) {
    const td = document.createElement('td');
    td.setAttribute('role', 'cell');
    if (cls) td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }
  function element(tag, cls, id, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (id) e.id = id;
    if (text) e.textContent = text;
    return e;
  }
  function dash(v) { return v === null || v === undefined || v === '' ? '\u2014' : String(v); }

  // The same row as the server's (Pages.row), from an incident's JSON; text
  // only through textContent.
  function render(i) {
    const tr = document.createElement('tr');
    tr.setAttribute('role', 'row');
    tr.id = 'incident-' + i.id;
    tr.dataset.id = i.id; tr.dataset.state = i.state; tr.dataset.priority = i.priority;
    tr.dataset.occurredMs = i.occurred_ms; tr.dataset.receivedMs = i.received_ms;
    const k = cell(tr, i.kind.toUpperCase(), 'kind kind-' + i.kind);
    if (i.test) k.appendChild(element('span', 'test', null, ' TEST'));
    if (i.escalated_at) k.appendChild(element('span', 'escalated', null, ' ESCALATED'));
    cell(tr, i.site); cell(tr, i.gateway_id); cell(tr, dash(i.input));
    cell(tr, dash(i.zone) + ' / ' + dash(i.area)); cell(tr, dash(i.location), 'location');
    cell(tr, i.occurred_at); cell(tr, i.received_at);
    cell(tr, i.clock_synchronized ? 'synchronised' : 'NOT synchronised', i.clock_synchronized ? '' : 'unsync');
    cell(tr, String(i.presses) + (i.restored_at ? ' (released)' : ''));
    cell(tr, i.state + (i.acknowledged_by ? ' by ' + i.acknowledged_by : ''), 'state');
    const act = cell(tr, '', 'actions');
    if (i.state === 'new') { const b = element('button', 'ack', 'ack-' + i.id, 'Acknowledge'); b.type = 'button'; act.appendChild(b); act.append(' '); }
    const r = element('button', 'resolve', 'resolve-' + i.id, 'Resolve\u2026');
    r.type = 'button';
    act.appendChild(r);
    if (i.plan.length > 0) {
      const done = i.plan.filter(function (p) { return p.done_by; }).length;
      const p = element('button', 'plan', 'plan-' + i.id, 'Plan ' + done + '/' + i.plan.length);
      p.type = 'button';
      act.append(' '); act.appendChild(p);
    }
    incidents[i.id] = i;
    return tr;
  }

  // The latest JSON of every incident on the page (the plan panel reads it).
  const incidents = {};
  const planPanel = document.getElementById('plan-panel');
  let planning = null;
  function showPlan(id) {
    const i = incidents[id];
    if (!i) { planning = null; planPanel.hidden = true; return; }
    planning = String(id);
    document.getElementById('plan-title').textContent = 'Action plan: ' + i.site + ', incident ' + i.id;
    const list = document.getElementById('plan-steps');
    list.replaceChildren();
    i.plan.forEach(function (p, n) {
      const li = element('li', p.done_by ? 'done' : '', 'step-' + i.id + '-' + n, p.text);
      if (p.done_by) {
        li.appendChild(element('span', 'by', null, ' \u2714 ' + p.done_by + ', ' + p.done_at));
      } else {
        const b = element('button', 'step', 'step-button-' + i.id + '-' + n, 'Done');
        b.type = 'button';
        b.addEventListener('click', function () { post(i.id, 'steps/' + n, {}); });
        li.append(' '); li.appendChild(b);
      }
      list.appendChild(li);
    });
    planPanel.hidden = false;
  }
  document.getElementById('plan-close').addEventListener('click', function () { planning = null; planPanel.hidden = true; });

  // One listener for every row's buttons, present and future; one panel
  // for resolving (a thousand rows of form fields would take a second to parse).
  const panel = document.getElementById('resolve-panel');
  let resolving = null;
  body.addEventListener('click', function (e) {
    const b = e.target.closest('button');
    if (!b) return;
    const id = b.closest('tr').dataset.id;
    if (b.classList.contains('ack')) post(id, 'acknowledge', {});
    if (b.classList.contains('plan')) showPlan(id);
    if (b.classList.contains('resolve')) {
      resolving = id;
      document.getElementById('resolve-title').textContent = 'Resolve incident ' + id;
      document.getElementById('resolve-note').value = '';
      panel.hidden = false;
      document.getElementById('resolve-note').focus();
    }
  });
  panel.addEventListener('submit', function (e) {
    e.preventDefault();
    if (resolving === null) return;
    post(resolving, 'resolve', { disposition: document.getElementById('resolve-disposition').value, note: document.getElementById('resolve-note').value });
    resolving = null;
    panel.hidden = true;
  });
  document.getElementById('resolve-cancel').addEventListener('click', function () { resolving = null; panel.hidden = true; });

  function order(a, b) { return a.priority - b.priority || a.occurred_ms - b.occurred_ms || a.id - b.id; }
  function key(row) { return { priority: +row.dataset.priority, occurred_ms: +row.dataset.occurredMs, id: +row.dataset.id }; }
  function empty() { const e = document.getElementById('empty'); if (e) e.hidden = body.rows.length > 0; }
  function age(tr) {
    const waiting = tr.dataset.state === 'new' ? Date.now() - Number(tr.dataset.receivedMs) : -1;
    tr.classList.toggle('warn', waiting >= warnMs && waiting < dangerMs);
    tr.classList.toggle('danger', waiting >= dangerMs);
  }

  function upsert(i, fresh) {
    if (pending.length) drawPending(pending.length);
    const old = document.getElementById('incident-' + i.id);
    if (i.state === 'resolved') {
      if (old) old.remove();
      if (resolving === String(i.id)) { resolving = null; panel.hidden = true; }
      if (planning === String(i.id)) { planning = null; planPanel.hidden = true; }
      delete incidents[i.id];
      empty();
      return;
    }
    if (old) old.remove();
    const tr = render(i);
    // Binary search: the rows are kept in order, and a queue may be long.
    const rows = body.rows;
    let lo = 0, hi = rows.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (order(i, key(rows[mid])) < 0) hi = mid; else lo = mid + 1; }
    if (lo < rows.length) body.insertBefore(tr, rows[lo]); else body.appendChild(tr);
    if (!window.panicSeen[i.id]) {
      window.panicSeen[i.id] = Date.now();
      if (fresh && i.state === 'new') beep(i.priority);
    }
    age(tr); empty();
    if (planning === String(i.id)) showPlan(i.id);
  }

  async function post(id, action, fields) {
    try {
      const r = await fetch('/console/incidents/' + id + '/' + action, {
        method: 'POST', credentials: 'same-origin', body: new URLSearchParams(fields),
        headers: { 'X-CSRF-Token': csrf, 'Content-Type': 'application/x-www-form-urlencoded' } });
      const j = await r.json().catch(function () { return {}; });
      if (r.status === 401) { location.href = '/console/login'; return; }
      if (!r.ok) { say(j.error || ('refused: HTTP ' + r.status), true); return; }
      upsert(j, false);
      say('incident ' + id + ': ' + (action.startsWith('steps/') ? 'step ' + (Number(action.slice(6)) + 1) + ' done' : j.state + (j.state === 'acknowledged' ? ' by ' + j.acknowledged_by : '')));
    } catch (e) { say('not sent (' + e + '): try again', true); }
  }

  // The server sent the most urgent rows, in order and complete: they are
  // only noted. The rest, in the same order after them, are drawn here from
  // the page's JSON (which the plan panel needs too): after the first screen
  // is painted, a thousand at a time (each slice costs a layout; a longer
  // queue must not hold the page for long), so the most urgent are on the screen
  // first. Any change from the stream draws all that is left at once before
  // it is placed, so the order holds.
  const loaded = Date.now();
  for (const row of body.rows) { window.panicSeen[row.dataset.id] = loaded; age(row); }
  const initial = document.getElementById('incidents-json');
  const pending = [];
  if (initial) for (const i of JSON.parse(initial.textContent)) { incidents[i.id] = i; if (!window.panicSeen[i.id]) pending.push(i); }
  function drawPending(n) {
    const rest = document.createDocumentFragment();
    for (const i of pending.splice(0, n)) {
      const tr = render(i);
      window.panicSeen[i.id] = loaded;
      age(tr);
      rest.appendChild(tr);
    }
    body.appendChild(rest);
    if (!pending.length && !performance.getEntriesByName('queue-complete').length) performance.mark('queue-complete');
  }
  function drawSlices() {
    if (!pending.length) { drawPending(0); return; }
    drawPending(1000);
    setTimeout(drawSlices, 0);
  }
  // The marks are the tests' load figures: the first screen, and every row.
  requestAnimationFrame(function () { setTimeout(function () { performance.mark('queue-painted'); drawSlices(); }, 0); });
  empty();
  setInterval(function () { for (const tr of body.rows) age(tr); }, 1000);

  const live = document.getElementById('live');
  function connect() {
    const es = new EventSource('/console/events?after=' + cursor);
    es.onopen = function () { live.textContent = 'live'; live.className = 'live ok'; };
    es.addEventListener('incident', function (e) {
      cursor = Math.max(cursor, Number(e.lastEventId) || 0);
      upsert(JSON.parse(e.data), true);
    });
    es.onerror = function () {
      live.textContent = 'connection to the receiver lost \u2014 reconnecting'; live.className = 'live bad';
      // Closed for good (the session ended, say): the page itself decides.
      if (es.readyState === EventSource.CLOSED) setTimeout(function () { location.reload(); }, 3000);
    };
  }
  connect();
})();
"""#

    static let style = #"""
body { font-family: system-ui, sans-serif; margin: 0; background: #111; color: #eee; }
header { display: flex; align-items: center; gap: 1em; padding: 0.5em 1em; background: #222; flex-wrap: wrap; }
header h1 { font-size: 1.2em; margin: 0; }
nav { display: flex; align-items: center; gap: 0.8em; flex-wrap: wrap; }
nav a { color: #9cf; }
form.inline { display: inline; }
main { padding: 1em; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #333; padding: 0.35em 0.5em; text-align: left; vertical-align: top; }
th { background: #1b1b1b; position: sticky; top: 0; }
/* The queue's rows are a grid of fixed columns, not a table the browser
   sizes from every cell: a thousand rows are laid out like one, and rows
   off the screen not at all (content-visibility) until scrolled to. The
   table's roles stay in the markup for screen readers. */
#queue, #queue thead, #queue tbody { display: block; }
/* Each column at least wide enough for its usual text, sharing what is left. */
#queue { font-size: 0.92em; }
#queue tr { display: grid; grid-template-columns: minmax(6em, 0.6fr) minmax(6em, 1fr) minmax(6em, 1fr) minmax(6em, 1fr) minmax(4.5em, 0.4fr)
  minmax(7em, 1.5fr) 14.5em 14.5em 8.5em 5.5em minmax(6.5em, 1fr) minmax(12em, 1fr); }
#queue th, #queue td { overflow-wrap: break-word; min-width: 0; }
#queue thead { position: sticky; top: 0; z-index: 1; }
#queue tbody tr { content-visibility: auto; contain-intrinsic-size: auto 3.2em; }
tr.warn { background: #5a4500; }
/* No animation: a flood of a thousand rows must not keep the browser repainting. */
tr.danger { background: #a00000; box-shadow: inset 6px 0 0 #ff3030; font-weight: bold; }
.kind-panic, .kind-duress { color: #ff6b6b; font-weight: bold; }
.kind-tamper { color: #ffb86b; font-weight: bold; }
.kind-silent, .kind-trouble, .kind-sequence { color: #ffe66b; }
.test { color: #8f8; }
.escalated { color: #fff; background: #c00; padding: 0 0.3em; }
.unsync { color: #ffb86b; font-weight: bold; }
.live.ok { color: #8f8; } .live.bad { color: #f66; font-weight: bold; }
.error, #status.bad { color: #f66; font-weight: bold; }
#status.ok { color: #8f8; }
.empty { color: #999; }
label { display: block; margin: 0.4em 0; }
.panel { position: fixed; bottom: 1em; right: 1em; background: #223; border: 2px solid #9cf; padding: 1em; }
.panel[hidden] { display: none; }
#plan-panel { bottom: auto; top: 4em; max-width: 40em; }
#plan-steps li.done { color: #8f8; }
"""#
}
