// Atividade: the change feed as it happens (server-sent events, no
// reload), imports and members catching up with progress bars, and
// warnings with what to do.
'use strict';
(function () {
  const elo = window.elo;
  const { h, t, fmt } = elo;
  const SHOWN = 200;
  const DAY_MS = 24 * 3600 * 1000;

  const PEOPLE = new Set(['customer', 'supplier', 'carrier', 'company']);
  function changeRow(c) {
    // The feed's key names its field ("cpf:52998224725"): the value is shown.
    const key = String(c.key || c.id || '');
    const value = key.includes(':') ? key.slice(key.indexOf(':') + 1) : key;
    const kind = elo.words['kind.' + c.kind] ? t('kind.' + c.kind) : c.kind;
    return h('tr', { 'data-seq': c.seq, 'data-key': value },
      h('td', { class: 'num' }, c.seq), h('td', {}, kind),
      h('td', { class: 'mono' }, PEOPLE.has(c.kind) ? fmt.doc(value) : value),
      h('td', { class: 'mono' }, fmt.doc(c.company)),
      h('td', {}, c.deleted ? h('span', { class: 'badge bad' }, t('deleted')) : ''));
  }

  // Codes left per company and table, from the committed ranges whose use
  // is known. A company asks for its next block at 80% used, so one below
  // a tenth of a block did not get it: its primary is not answering.
  function codesLow(ranges, names) {
    const by = new Map();
    for (const r of ranges || []) {
      if (!r.committed || r.used === null || r.used === undefined) continue;
      const k = r.company + ' ' + r.table;
      const e = by.get(k) || { company: r.company, table: r.table, left: 0, block: 0, from: -1 };
      e.left += Math.max(0, r.to - r.from + 1 - r.used);
      if (r.from > e.from) { e.from = r.from; e.block = r.to - r.from + 1; }
      by.set(k, e);
    }
    return [...by.values()].filter((e) => e.left * 10 < e.block).map((e) =>
      t('w.codes.low', `${names.get(e.company) || '?'} (${fmt.doc(e.company)})`, elo.words['kind.' + e.table] ? t('kind.' + e.table) : e.table, fmt.number(e.left), fmt.number(e.block)));
  }

  function warnings(status, rules, ranges) {
    const out = [];
    if (status.store && !status.store.ok) out.push(t('w.store', status.store.problem));
    const now = Date.now();
    for (const p of status.members || []) {
      const who = `${p.name || '?'} (${fmt.doc(p.company)})`;
      if (!p.connected && p.last_seen_ms && now - p.last_seen_ms > DAY_MS) out.push(t('w.unreachable', who));
      if (p.last_error) out.push(t('w.last.error', who, p.last_error));
    }
    const names = new Map((status.members || []).map((p) => [p.company, p.name]));
    names.set(status.company.cnpj, status.company.name);
    out.push(...codesLow(ranges, names));
    for (const w of status.withheld || []) out.push(t('w.withheld', w.records, `${w.name} (${fmt.doc(w.company)})`));
    for (const g of status.other_groups || []) out.push(t('w.other.group', g.address, g.advice || g.message || ''));
    for (const r of rules || []) if (r.member === false) out.push(t('w.rule.removed', r.id, fmt.doc(r.to)));
    return out;
  }

  function catchUps(status) {
    return (status.members || []).filter((p) => p.pulling || p.behind > 0).map((p) => {
      const total = Math.max(p.their_latest_seq, 1);
      const done = Math.min(p.checkpoint, total);
      return h('div', { class: 'progress-line' }, h('span', {}, `${p.name || '?'} (${fmt.doc(p.company)})`),
        h('progress', { max: total, value: done }), h('span', { class: 'muted' }, `${fmt.number(done)} / ${fmt.number(total)}`));
    });
  }

  // `elo import` runs: how far its last stored batch went in its file.
  function importBars(imports) {
    return (imports || []).map((i) => {
      const total = Math.max(i.total, 1);
      const pct = Math.floor((100 * Math.min(i.done, total)) / total);
      const kind = elo.words['kind.' + i.kind] ? t('kind.' + i.kind) : i.kind;
      return h('div', { class: 'progress-line', 'data-import': i.id },
        h('span', {}, t('import.of', kind)),
        h('progress', { max: total, value: Math.min(i.done, total) }),
        h('span', { class: 'muted' }, i.finished ? t('import.done', fmt.number(i.batches)) : t('import.pct', pct, fmt.number(i.batches))));
    });
  }

  elo.screen('atividade', async (root) => {
    const status = await elo.get('/v1/status');
    const since = Math.max(0, (status.last_seq || 0) - 50);
    const feed = await elo.get('/v1/changes?since=' + since + '&limit=50');
    const rows = h('tbody', { id: 'feed' });
    let last = 0;
    const add = (c) => {
      if (c.seq <= last) return;
      last = c.seq;
      rows.prepend(changeRow(c));
      while (rows.children.length > SHOWN) rows.lastChild.remove();
    };
    feed.changes.forEach(add);
    const warnBox = h('div', { id: 'warnings' });
    const progress = h('div', { id: 'catchups' });
    const drawState = async () => {
      const s = await elo.get('/v1/status');
      const [rules, ranges, imports] = await Promise.all([elo.api('GET', '/v1/order-rules'), elo.api('GET', '/v1/ranges'),
        elo.api('GET', '/v1/imports')]);
      const list = warnings(s, rules.ok ? rules.data.rules : [], ranges.ok ? ranges.data.ranges : []);
      warnBox.replaceChildren(...(list.length ? list.map((w) => h('p', { class: 'warn-text warning' }, '⚠ ' + w)) : [h('p', { class: 'muted' }, t('no.warnings'))]));
      const bars = importBars(imports.ok ? imports.data.imports : []).concat(catchUps(s));
      progress.replaceChildren(...(bars.length ? bars : [h('p', { class: 'muted' }, t('up.to.date'))]));
    };
    await drawState();
    root.append(h('h1', {}, t('activity.title')),
      h('div', { class: 'grid two' }, elo.section(t('warnings'), warnBox), elo.section(t('catchups'), progress)),
      elo.section(t('activity.feed'), h('p', { class: 'muted' }, t('activity.help')),
        elo.table([[t('col.seq'), 'num'], t('col.kind'), t('col.key'), t('col.by'), ''], rows, { id: 'changes' })));
    // A stored batch or pulled change arrives on the stream: the bars are
    // drawn again then (at most once a second), and every 3 s besides for
    // what the stream does not carry (a member connecting).
    let pending = null;
    const soon = () => { if (!pending) pending = setTimeout(() => { pending = null; drawState().catch(() => {}); }, 1000); };
    const stop = elo.onChange((c) => { add(c); soon(); });
    const timer = setInterval(() => { drawState().catch(() => {}); }, 3000);
    return () => { stop(); clearInterval(timer); if (pending) clearTimeout(pending); };
  });
})();
