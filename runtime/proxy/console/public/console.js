// The operator console's page script (no build step, no dependencies). The admin token lives in
// this closure only: sent as `Authorization: Token …` by fetch (the event stream too, read with
// fetch streaming because EventSource cannot send headers), never put in a URL, a cookie or
// storage. Reloading the page forgets it.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const HEX = '0123456789abcdef';
  const BUCKETS = [];
  for (const a of HEX) for (const b of HEX) BUCKETS.push(a + b);

  let token = null;
  let stream = null;
  let colours = new Map();
  let pendingAction = null;

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const headers = { authorization: `Token ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', credentials: 'omit' });
    let data = null;
    try {
      data = await res.json();
    } catch {
      /* not JSON */
    }
    if (!res.ok) throw new ApiError(res.status, (data && (data.message || data.error)) || `HTTP ${res.status}`);
    return data;
  }

  const explain = (err) =>
    err.status === 401
      ? 'Wrong admin token: the proxy refused it (401).'
      : err.status === 404
        ? `Refused: ${err.message}`
        : err.status
          ? `Refused (${err.status}): ${err.message}`
          : `The admin API did not answer: ${err.message}`;

  function show(el, text) {
    el.textContent = text;
    el.hidden = !text;
  }

  // ---- login ----
  $('login').addEventListener('submit', async (e) => {
    e.preventDefault();
    const field = $('token');
    const given = field.value.trim();
    field.value = '';
    show($('login-error'), '');
    if (!given) return;
    token = given;
    try {
      const state = await api('GET', '/console/api/state');
      $('login').hidden = true;
      $('console').hidden = false;
      render(state);
      void follow();
    } catch (err) {
      forget(explain(err) + ' Nothing is shown.');
    }
  });

  $('logout').addEventListener('click', () => forget(''));

  function forget(message) {
    token = null;
    if (stream) stream.abort();
    stream = null;
    $('console').hidden = true;
    $('feed').hidden = true;
    $('grid').replaceChildren();
    $('nodes').replaceChildren();
    $('moves').replaceChildren();
    $('login').hidden = false;
    show($('login-error'), message);
  }

  // ---- live updates: server-sent events over fetch ----
  function feed(live) {
    const f = $('feed');
    f.hidden = false;
    f.textContent = live ? 'live' : 'reconnecting…';
    f.classList.toggle('off', !live);
  }

  async function follow() {
    const ctrl = new AbortController();
    stream = ctrl;
    let backoff = 250;
    while (stream === ctrl) {
      try {
        const res = await fetch('/console/api/events', { headers: { authorization: `Token ${token}`, accept: 'text/event-stream' }, signal: ctrl.signal, cache: 'no-store', credentials: 'omit' });
        if (res.status === 401) return forget('The admin token is no longer accepted (401).');
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        feed(true);
        backoff = 250;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            onFrame(buf.slice(0, i));
            buf = buf.slice(i + 2);
          }
        }
      } catch {
        if (ctrl.signal.aborted) return;
      }
      if (stream !== ctrl) return;
      feed(false);
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 4000);
    }
  }

  function onFrame(frame) {
    let event = 'message';
    const data = [];
    for (const line of frame.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (event === 'state' && data.length) render(JSON.parse(data.join('\n')));
  }

  // ---- rendering ----
  const el = (tag, attrs = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('data-')) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) e.append(c);
    return e;
  };
  const colourOf = (id) => (id && colours.has(id) ? `o${colours.get(id) % 8}` : 'none');
  const bytes = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);
  const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '-');

  function render(s) {
    colours = new Map(s.nodes.map((n, i) => [n.node_id, i]));
    $('epoch').textContent = s.epoch === null ? '-' : `${s.epoch} (${time(s.epoch_written_at)})`;
    $('leader').textContent = s.monitor_leader ?? 'none';
    $('leader').className = s.monitor_leader ? '' : 'bad';
    $('revision').textContent = String(s.revision);
    const r = $('routing');
    r.textContent = s.routing.stale ? `STALE (unconfirmed for ${(s.routing.unconfirmed_ms / 1000).toFixed(1)} s)` : 'current';
    r.className = s.routing.stale ? 'bad' : 'good';
    const up = s.etcd.members.filter((m) => m.healthy).length;
    const e = $('etcd');
    e.textContent = `${s.etcd.quorum ? 'quorum' : 'NO QUORUM'}, ${up}/${s.etcd.members.length} members healthy`;
    e.title = s.etcd.members.map((m) => `${m.endpoint} ${m.healthy ? 'healthy' : 'unhealthy'}`).join('\n');
    e.className = !s.etcd.quorum ? 'bad' : up < s.etcd.members.length ? 'warn' : 'good';
    renderGrid(s);
    renderNodes(s);
    renderMoves(s);
  }

  function renderGrid(s) {
    const grid = $('grid');
    if (grid.children.length !== 256) grid.replaceChildren(...BUCKETS.map((b) => el('div', { class: 'cell', 'data-bucket': b, role: 'gridcell' }, b)));
    const moving = new Set(s.moving);
    for (const cell of grid.children) {
      const b = cell.dataset.bucket;
      const owner = s.buckets[b] ?? '';
      cell.setAttribute('data-owner', owner);
      cell.className = `cell ${colourOf(owner)}${moving.has(b) ? ' moving' : ''}`;
      cell.title = `bucket ${b}: ${owner || 'unassigned'}${moving.has(b) ? ' (handoff in progress)' : ''}`;
    }
  }

  function renderNodes(s) {
    const cards = s.nodes.map((n) => {
      const load = n.load ? `${n.load.ops_per_sec.toFixed(1)} ops/s, ${n.load.bases} bases, ${bytes(n.load.bytes)}` : 'not reported';
      const actions = el('div', { class: 'actions' });
      if (n.weight_override === 0 || n.state === 'draining') {
        actions.append(el('button', { type: 'button', className: 'quiet', onclick: () => preview('undrain', n.node_id) }, 'Undrain…'));
      } else {
        actions.append(el('button', { type: 'button', onclick: () => preview('drain', n.node_id) }, 'Drain…'));
      }
      return el(
        'article',
        { class: 'node', 'data-node': n.node_id, 'data-buckets': String(n.buckets), 'data-state': n.state },
        el('h3', {}, el('span', { class: `swatch ${colourOf(n.node_id)}` }), n.node_id, el('span', { class: `state ${n.state}` }, n.state)),
        el('p', {}, `${n.buckets} buckets assigned, ${n.owned} owned`),
        el('p', {}, `weight ${n.weight}${n.weight_override !== null ? ' (override)' : ''}`),
        el('p', {}, `load ${load}`),
        el('p', { class: 'sub' }, n.node_url ?? 'not registered'),
        actions,
      );
    });
    $('nodes').replaceChildren(...cards);
  }

  function moveLine(m) {
    return el('li', {}, `${m.epoch === undefined ? '' : `epoch ${m.epoch ?? '?'} · `}${m.bucket}  ${m.from ?? '(none)'} → ${m.to}${m.seen_at ? `  ${time(m.seen_at)}` : ''}`);
  }

  function renderMoves(s) {
    $('moves').replaceChildren(...s.moves.slice(0, 32).map(moveLine));
    $('no-moves').hidden = s.moves.length > 0;
  }

  // ---- actions: always a dry run first, applied only on confirmation ----
  async function preview(kind, nodeId) {
    show($('action-error'), '');
    show($('notice'), '');
    try {
      const r =
        kind === 'rebalance'
          ? await api('POST', '/rebalance/?dry_run=1')
          : await api('POST', '/drain/', { node_id: nodeId, undo: kind === 'undrain', dry_run: true });
      pendingAction = { kind, nodeId };
      $('preview-title').textContent = kind === 'rebalance' ? 'Rebalance (dry run)' : `${kind === 'drain' ? 'Drain' : 'Undrain'} ${nodeId} (dry run)`;
      const extra = kind === 'rebalance' ? ` Load per node: max ${r.before.max.toFixed(2)} → ${r.after.max.toFixed(2)}, mean ${r.before.mean.toFixed(2)}.` : '';
      $('preview-summary').textContent = `${r.moves.length} bucket move(s) would be made; nothing has changed yet.${extra}`;
      $('preview-moves').replaceChildren(...r.moves.map((m) => moveLine({ bucket: m.bucket, from: m.from, to: m.to, epoch: undefined })));
      $('preview-apply').disabled = kind === 'rebalance' && r.moves.length === 0;
      $('preview').showModal();
    } catch (err) {
      show($('action-error'), explain(err));
    }
  }

  $('rebalance').addEventListener('click', () => preview('rebalance'));
  $('preview-cancel').addEventListener('click', () => {
    pendingAction = null;
    $('preview').close();
  });
  $('preview-apply').addEventListener('click', async () => {
    const a = pendingAction;
    pendingAction = null;
    $('preview').close();
    if (!a) return;
    try {
      if (a.kind === 'rebalance') {
        const r = await api('POST', '/rebalance/');
        show($('notice'), r.applied ? `Rebalance applied by ${r.monitor_id}: ${r.moves.length} move(s), epoch ${r.epoch}.` : 'Rebalance: nothing to move.');
      } else {
        const r = await api('POST', '/drain/', { node_id: a.nodeId, undo: a.kind === 'undrain', dry_run: false });
        show($('notice'), `${a.kind === 'drain' ? 'Draining' : 'Undraining'} ${r.node_id}: weight ${r.weight}, ${r.moves.length} move(s) expected.`);
      }
    } catch (err) {
      show($('action-error'), explain(err));
    }
  });
})();
