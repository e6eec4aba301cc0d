// Cadastros: browse and search customers, suppliers, carriers, products,
// units and product groups; a record's fields, its history (who changed
// what, when), its own code at each company, and the fields edited apart.
'use strict';
(function () {
  const elo = window.elo;
  const { h, t, fmt } = elo;
  const KINDS = ['customer', 'supplier', 'carrier', 'product', 'unit', 'product_group'];
  const PAGE = 50;
  const ELO_ONLY = new Set(['id', 'kind', 'seq', 'codes']);
  const MONEY = /(price|limit|cost|credit_used|amount|total)$/;

  // A field's value as a person reads it.
  elo.fmt.value = function (name, v) {
    if (v === null || v === undefined) return '—';
    if (typeof v === 'boolean') return t(v ? 'yes' : 'no');
    if (typeof v === 'object') return JSON.stringify(v);
    if (MONEY.test(name)) return fmt.money(v);
    if (name === 'cpf' || name === 'cnpj') return fmt.doc(v);
    if (/^\d{4}-\d{2}-\d{2}$/.test(String(v))) return fmt.day(v);
    return String(v);
  };
  const keyOf = (r) => String(r.id || '').split(':').slice(1).join(':');
  const title = (r) => r.name || r.description || r.trade_name || keyOf(r);

  async function detail(kind, key, box) {
    const path = `/v1/records/${kind}/${encodeURIComponent(key)}`;
    const r = await elo.api('GET', path);
    if (!r.ok) { box.replaceChildren(h('p', { class: 'notice bad' }, r.data.message)); return; }
    const rec = r.data;
    const [hist, conflicts] = await Promise.all([elo.api('GET', path + '/history'), elo.api('GET', path + '/conflicts')]);
    const fields = Object.entries(rec).filter(([k]) => !ELO_ONLY.has(k));
    const codes = Object.entries(rec.codes || {});
    const history = (hist.ok ? hist.data.history : []).slice().reverse();
    box.replaceChildren(h('h2', {}, title(rec)),
      h('div', { class: 'grid two' },
        elo.section(t('record.fields'), elo.table([t('col.field'), t('col.value')],
          fields.map(([k, v]) => h('tr', { 'data-field': k }, h('td', { title: k }, elo.label(kind, k)), h('td', {}, fmt.value(k, v)))), { id: 'record-fields' })),
        h('div', {},
          conflictCard(kind, conflicts.ok ? conflicts.data.conflicts : []),
          elo.section(t('record.codes'), codes.length
            ? elo.table([t('col.company'), t('col.code')],
              codes.map(([c, code]) => h('tr', {}, h('td', { class: 'mono' }, fmt.doc(c)), h('td', {}, String(code)))))
            : h('p', { class: 'muted' }, t('record.no.codes'))),
          elo.section(t('record.history'), elo.table([t('col.when'), t('col.company'), t('col.changed')],
            history.map((e) => h('tr', {}, h('td', {}, fmt.date(e.time_ms, true)), h('td', { class: 'mono' }, fmt.doc(e.company)),
              h('td', {}, e.fields.map((f) => elo.label(kind, f)).join(', ')))), { id: 'record-history' })))));
  }

  // The fields edited apart: every value and the company that wrote it,
  // the one the record shows first; writing the field again settles it.
  function conflictCard(kind, list) {
    if (!list.length) return null;
    const rows = list.flatMap((c) => c.values.map((v, i) => h('tr', { 'data-conflict': c.field },
      h('td', {}, i === 0 ? elo.label(kind, c.field) : ''),
      h('td', {}, fmt.value(c.field, v.value), i === 0 ? h('span', { class: 'badge' }, t('record.conflict.shown')) : ''),
      h('td', { class: 'mono' }, v.company ? fmt.doc(v.company) : '?'))));
    return h('section', { class: 'card conflict', id: 'record-conflicts' }, h('h2', {}, t('record.conflicts')),
      h('p', { class: 'warn-text' }, t('record.conflicts.help')),
      elo.table([t('col.field'), t('col.value'), t('col.by')], rows));
  }

  elo.screen('cadastros', async (root) => {
    const kind = h('select', { id: 'records-kind' }, KINDS.map((k) => h('option', { value: k }, t('kind.' + k))));
    const key = h('input', { type: 'search', id: 'records-key', placeholder: t('record.key') });
    const rows = h('tbody');
    const more = elo.button(t('more'), () => page(), { class: 'secondary', id: 'records-more' });
    const box = h('div', { id: 'record' });
    let after = null;
    const row = (r) => h('tr', { class: 'clickable', on: { click: () => detail(kind.value, keyOf(r), box) } },
      h('td', { class: 'mono' }, kind.value === 'customer' || kind.value === 'supplier' || kind.value === 'carrier' ? fmt.doc(keyOf(r)) : keyOf(r)),
      h('td', {}, title(r)), h('td', { class: 'num' }, r.code === undefined ? '—' : r.code));
    async function page() {
      const q = `/v1/records/${kind.value}?limit=${PAGE}` + (after ? '&after=' + encodeURIComponent(after) : '');
      const r = await elo.api('GET', q);
      if (!r.ok) { rows.replaceChildren(h('tr', {}, h('td', { colspan: 3, class: 'error-text' }, r.data.message))); return; }
      if (!after && r.data.records.length === 0) rows.replaceChildren(h('tr', {}, h('td', { colspan: 3, class: 'muted' }, t('record.none'))));
      else rows.append(...r.data.records.map(row));
      after = r.data.next_after || null;
      more.disabled = !after;
    }
    const restart = () => { after = null; rows.replaceChildren(); box.replaceChildren(); page(); };
    kind.addEventListener('change', restart);
    const search = h('form', { class: 'inline-form', id: 'records-search' }, kind, key, h('button', { type: 'submit' }, t('search')));
    search.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (key.value.trim()) detail(kind.value, key.value.trim(), box); else restart();
    });
    await page();
    root.append(h('h1', {}, t('records.title')),
      h('div', { class: 'grid two' },
        elo.section(t('records.title'), search, elo.table([t('col.key'), t('col.name'), [t('col.code'), 'num']], rows, { id: 'records' }), more),
        box));
  });
})();
