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
    if (cls) td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }
  function button(text, id, action) {
    const b = document.createElement('button');
    b.type = 'button'; b.id = id; b.textContent = text;
    b.addEventListener('click', action);
    return b;
  }
  function dash(v) { return v === null || v === undefined || v === '' ? '\u2014' : String(v); }

  function render(i) {
    const tr = document.createElement('tr');
    tr.id = 'incident-' + i.id;
    tr.dataset.id = i.id; tr.dataset.state = i.state; tr.dataset.priority = i.priority;
    tr.dataset.occurredMs = i.occurred_ms; tr.dataset.receivedMs = i.received_ms;
    tr.dataset.json = JSON.stringify(i);
    const k = cell(tr, i.kind.toUpperCase(), 'kind kind-' + i.kind);
    if (i.test) { const t = document.createElement('span'); t.className = 'test'; t.textContent = ' TEST'; k.appendChild(t); }
    cell(tr, i.site); cell(tr, i.gateway_id); cell(tr, dash(i.input));
    cell(tr, dash(i.zone) + ' / ' + dash(i.area)); cell(tr, dash(i.location), 'location');
    cell(tr, i.occurred_at); cell(tr, i.received_at);
    cell(tr, i.clock_synchronized ? 'synchronised' : 'NOT synchronised', i.clock_synchronized ? '' : 'unsync');
    cell(tr, String(i.presses) + (i.restored_at ? ' (released)' : ''));
    cell(tr, i.state + (i.acknowledged_by ? ' by ' + i.acknowledged_by : ''), 'state');
    const act = cell(tr, '', 'actions');
    if (i.state === 'new') act.appendChild(button('Acknowledge', 'ack-' + i.id, function () { post(i.id, 'acknowledge', {}); }));
    const sel = document.createElement('select');
    sel.id = 'disposition-' + i.id;
    for (const d of ['genuine', 'false-alarm', 'test', 'technical-fault']) {
      const o = document.createElement('option'); o.value = d; o.textContent = d; sel.appendChild(o);
    }
    const note = document.createElement('input');
    note.id = 'note-' + i.id; note.placeholder = 'note'; note.maxLength = 4000;
    act.appendChild(sel); act.appendChild(note);
    act.appendChild(button('Resolve', 'resolve-' + i.id, function () { post(i.id, 'resolve', { disposition: sel.value, note: note.value }); }));
    return tr;
  }

  function order(a, b) { return a.priority - b.priority || a.occurred_ms - b.occurred_ms || a.id - b.id; }
  function key(row) { return { priority: +row.dataset.priority, occurred_ms: +row.dataset.occurredMs, id: +row.dataset.id }; }
  function empty() { const e = document.getElementById('empty'); if (e) e.hidden = body.rows.length > 0; }
  function age(tr) {
    const waiting = tr.dataset.state === 'new' ? Date.now() - Number(tr.dataset.receivedMs) : -1;
    tr.classList.toggle('warn', waiting >= warnMs && waiting < dangerMs);
    tr.classList.toggle('danger', waiting >= dangerMs);
  }

  function upsert(i, fresh) {
    const old = document.getElementById('incident-' + i.id);
    if (i.state === 'resolved') { if (old) old.remove(); empty(); return; }
    const typed = document.getElementById('note-' + i.id);
    const keep = typed ? typed.value : '';
    if (old) old.remove();
    const tr = render(i);
    let placed = false;
    for (const row of body.rows) {
      if (order(i, key(row)) < 0) { body.insertBefore(tr, row); placed = true; break; }
    }
    if (!placed) body.appendChild(tr);
    if (keep) document.getElementById('note-' + i.id).value = keep;
    if (!window.panicSeen[i.id]) {
      window.panicSeen[i.id] = Date.now();
      if (fresh && i.state === 'new') beep(i.priority);
    }
    age(tr); empty();
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
      say('incident ' + id + ' ' + j.state + (j.state === 'acknowledged' ? ' by ' + j.acknowledged_by : ''));
    } catch (e) { say('not sent (' + e + '): try again', true); }
  }

  for (const row of Array.from(body.rows)) upsert(JSON.parse(row.dataset.json), false);
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
tr.warn { background: #5a4500; }
tr.danger { background: #7a0000; animation: pulse 1s infinite alternate; }
@keyframes pulse { from { background: #7a0000; } to { background: #b00000; } }
.kind-panic, .kind-duress { color: #ff6b6b; font-weight: bold; }
.kind-tamper { color: #ffb86b; font-weight: bold; }
.kind-silent, .kind-trouble, .kind-sequence { color: #ffe66b; }
.test { color: #8f8; }
.unsync { color: #ffb86b; font-weight: bold; }
.live.ok { color: #8f8; } .live.bad { color: #f66; font-weight: bold; }
.error, #status.bad { color: #f66; font-weight: bold; }
#status.ok { color: #8f8; }
.empty { color: #999; }
label { display: block; margin: 0.4em 0; }
td.actions input { width: 10em; }
"""#
}
