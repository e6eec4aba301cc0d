// Estoque (a SKU per company and deposit, the group total, kits, and
// "Considerar estoque desta empresa") and Crédito (limit, used by company,
// available, escrow).
'use strict';
(function () {
  const elo = window.elo;
  const { h, t, fmt } = elo;

  // A form of one input that shows its answer below it.
  function lookup(id, label, run) {
    const input = h('input', { type: 'search', id: id + '-key', required: true });
    const out = h('div', { id: id + '-out' });
    const form = h('form', { class: 'inline-form', id: id + '-form' }, elo.field(label, input, 'key'),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('search'))), h('p', { class: 'form-error' }));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      elo.clearErrors(form);
      const r = await run(input.value.trim(), out);
      if (r && !r.ok) { out.replaceChildren(); elo.showErrors(form, r, 'key'); }
    });
    return [form, out];
  }

  function stockView(v) {
    const rows = [];
    for (const c of v.companies) {
      const deps = c.deposits.length ? c.deposits : [{ deposit: '—', quantity: c.quantity, reserved: c.reserved, available: c.available }];
      deps.forEach((d) => rows.push(h('tr', {}, h('td', { class: 'mono' }, fmt.doc(c.company)), h('td', {}, d.deposit),
        h('td', { class: 'num' }, fmt.number(d.quantity)), h('td', { class: 'num' }, fmt.number(d.reserved)),
        h('td', { class: 'num' }, fmt.number(d.available)), h('td', {}, t(c.counted ? 'yes' : 'no')))));
    }
    const tot = v.total || {};
    rows.push(h('tr', { class: 'total', id: 'stock-total' }, h('td', { colspan: 2 }, t('stock.total')), h('td', { class: 'num' }, fmt.number(tot.quantity)),
      h('td', { class: 'num' }, fmt.number(tot.reserved)), h('td', { class: 'num' }, fmt.number(tot.available)), h('td', {})));
    const num = (k) => [t(k), 'num'];
    return [elo.table([t('col.company'), t('col.deposit'), num('col.quantity'), num('col.reserved'), num('col.available'), t('col.counted')], rows, { id: 'stock' }),
      v.kit ? h('p', {}, t('stock.kit', fmt.number(v.kit.assembled), fmt.number(v.kit.from_components))) : null].filter(Boolean);
  }

  elo.screen('estoque', async (root) => {
    const me = await elo.get('/v1/records/company/' + encodeURIComponent(elo.me.cnpj));
    const consider = h('input', { type: 'checkbox', id: 'consider-stock', checked: me.consider_stock !== false });
    consider.addEventListener('change', async () => {
      const r = await elo.api('PATCH', '/v1/records/company/' + encodeURIComponent(elo.me.cnpj), { consider_stock: consider.checked });
      if (r.ok) elo.notice(t('stock.consider.saved')); else { consider.checked = !consider.checked; elo.notice(r.data.message, 'bad'); }
    });
    const [form, out] = lookup('stock', t('stock.sku'), async (sku, box) => {
      const r = await elo.api('GET', '/v1/stock/' + encodeURIComponent(sku));
      if (r.ok) box.replaceChildren(...stockView(r.data));
      return r;
    });
    root.append(h('h1', {}, t('stock.title')),
      elo.section(t('stock.title'), h('label', { class: 'check-line' }, consider, t('stock.consider')), form, out));
  });

  elo.screen('credito', async (root) => {
    const [form, out] = lookup('credit', t('credit.customer'), async (key, box) => {
      const r = await elo.api('GET', `/v1/customers/${encodeURIComponent(key)}/credit`);
      if (!r.ok) return r;
      const v = r.data;
      const byCompany = Object.entries(v.by_company || {}).map(([c, used]) => h('tr', {}, h('td', { class: 'mono' }, fmt.doc(c)), h('td', { class: 'num' }, fmt.money(used))));
      const rights = Object.entries(v.rights || {}).map(([c, x]) => h('tr', {}, h('td', { class: 'mono' }, fmt.doc(c)), h('td', { class: 'num' }, fmt.money(x))));
      box.replaceChildren(
        h('div', { class: 'summary' },
          h('div', {}, h('span', { class: 'label' }, t('credit.limit')), h('b', { id: 'credit-limit' }, fmt.money(v.limit))),
          h('div', {}, h('span', { class: 'label' }, t('credit.used')), h('b', {}, fmt.money(v.used))),
          h('div', {}, h('span', { class: 'label' }, t('credit.available')), h('b', {}, fmt.money(v.available)))),
        elo.section(t('credit.by.company'), elo.table([t('col.company'), [t('credit.used'), 'num']], byCompany)),
        ...(v.rights ? [elo.section(t('credit.escrow'), elo.table([t('col.company'), t('credit.available')], rights))] : []));
      return r;
    });
    root.append(h('h1', {}, t('credit.title')), elo.section(t('credit.title'), form, out));
  });
})();
