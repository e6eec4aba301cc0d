// Atividade: the change feed as it happens (server-sent events, no
// reload), members catching up with a progress bar, and warnings with
// what to do.
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

  function warnings(status, rules) {
    const out = [];
    if (status.store && !status.store.ok) out.push(t('w.store', status.store.problem));
    const now = Date.now();
    for (const p of status.members || []) {
      const who = `${p.name || '?'} (${fmt.doc(p.company)})`;
      if (!p.connected && p.last_seen_ms && now - p.last_seen_ms > DAY_MS) out.push(t('w.unreachable', who));
      if (p.last_error) out.push(`${who}: ${p.last_error}`);
    }
    for (const w of status.withheld || []) out.push(t('w.withheld', w.records, `${w.name} (${fmt.doc(w.company)})`));
    for (const g of status.other_groups || []) out.push(t('w.other.group', g.address, g.advice || g.message || ''));
    for (const r of rules || []) if (r.warning) out.push(r.warning);
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
      const rules = await elo.api('GET', '/v1/order-rules');
      const list = warnings(s, rules.ok ? rules.data.rules : []);
      warnBox.replaceChildren(...(list.length ? list.map((w) => h('p', { class: 'warn-text' }, '⚠ ' + w)) : [h('p', { class: 'muted' }, t('no.warnings'))]));
      const bars = catchUps(s);
      progress.replaceChildren(...(bars.length ? bars : [h('p', { class: 'muted' }, t('up.to.date'))]));
    };
    await drawState();
    root.append(h('h1', {}, t('activity.title')),
      h('div', { class: 'grid two' }, elo.section(t('warnings'), warnBox), elo.section(t('catchups'), progress)),
      elo.section(t('activity.feed'), h('p', { class: 'muted' }, t('activity.help')),
        elo.table([[t('col.seq'), 'num'], t('col.kind'), t('col.key'), t('col.by'), ''], rows, { id: 'changes' })));
    const stop = elo.onChange(add);
    const timer = setInterval(() => { drawState().catch(() => {}); }, 3000);
    return () => { stop(); clearInterval(timer); };
  });
})();
