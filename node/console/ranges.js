// Faixas de ID: the ranges table, "Cadastro de Faixa de ID" (a range by
// hand at the primary, the API's refusal next to the field), the primary
// and an election with what a failed one means.
'use strict';
(function () {
  const elo = window.elo;
  const { h, t, fmt } = elo;
  const TABLES = ['customer', 'supplier', 'carrier', 'product', 'unit', 'product_group'];

  // A code table by its records' name ("Clientes"), as the screens say it.
  const tableName = (x) => (elo.words['kind.' + x] ? t('kind.' + x) : x);

  function rangesTable(list) {
    const rows = list.ranges.map((r) => h('tr', {},
      h('td', { class: 'mono' }, fmt.doc(r.company)), h('td', {}, tableName(r.table)),
      h('td', { class: 'num' }, fmt.number(r.from)), h('td', { class: 'num' }, fmt.number(r.to)),
      h('td', { class: 'num' }, r.used === null || r.used === undefined ? '—' : fmt.number(r.used)),
      h('td', { class: 'num' }, r.term),
      h('td', {}, h('span', { class: 'badge ' + (r.committed ? 'ok' : 'warn') }, t(r.committed ? 'committed' : 'proposed')))));
    const num = (k) => [t(k), 'num'];
    return elo.table([t('col.company'), t('col.table'), num('col.from'), num('col.to'), num('col.used'), num('col.term'), t('col.state')], rows, { id: 'ranges' });
  }

  function companySelect(id, roster, chosen) {
    return h('select', { id, name: id }, roster.map((c) =>
      h('option', { value: c.cnpj, selected: c.cnpj === chosen }, `${fmt.doc(c.cnpj)} · ${c.name}`)));
  }

  function rangeForm(roster, atPrimary) {
    const num = (id) => h('input', { type: 'number', id, name: id, min: 1, step: 1, required: true });
    const form = h('form', { id: 'range-form', class: 'inline-form' },
      elo.field(t('col.company'), companySelect('range-company', roster, elo.me.cnpj), 'company'),
      elo.field(t('col.table'), h('select', { id: 'range-table' }, TABLES.map((x) => h('option', { value: x }, tableName(x)))), 'table'),
      elo.field(t('col.from'), num('range-from'), 'from'),
      elo.field(t('col.to'), num('range-to'), 'to'),
      h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'range-save' }, t('confirm'))),
      h('p', { class: 'form-error' }));
    if (!atPrimary) form.prepend(h('p', { class: 'muted' }, t('range.only.primary')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const v = (id) => form.querySelector('#' + id).value;
      const body = { company: v('range-company'), table: v('range-table'), from: Number(v('range-from')), to: Number(v('range-to')) };
      const r = await elo.api('POST', '/v1/ranges', body);
      // An overlap names no field of its own: it is the range's start
      // and end that collide, so it is shown under "De".
      if (r.ok) { await elo.refresh(); elo.notice(t('range.saved')); } else elo.showErrors(form, r, 'from');
    });
    return elo.section(t('range.form'), form);
  }

  function electCard(view, roster) {
    const form = h('form', { id: 'elect-form', class: 'inline-form' },
      elo.field(t('elect.candidate'), companySelect('elect-candidate', roster, elo.me.cnpj), 'candidate'),
      h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'elect' }, t('elect.button'))),
      h('p', { class: 'form-error' }));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const r = await elo.api('POST', '/v1/primary/elect', { candidate: form.querySelector('#elect-candidate').value });
      if (r.ok) {
        await elo.refresh();
        const p = r.data.primary;
        elo.notice(p ? t('elected', fmt.doc(p.company), p.term) : t('no.primary'));
      } else {
        // A failed election changes nothing: said so, with the API's reason.
        elo.showErrors(form, r, 'candidate');
        elo.notice(t('elect.failed', elo.errorText(r.data.error, undefined, r.data.message)), 'bad');
      }
    });
    const p = view.primary;
    return elo.section(t('elect.title'),
      h('p', {}, h('span', { class: 'label' }, t('primary')), p ? `${fmt.doc(p.company)} (${t('term')} ${p.term})` : t('no.primary')),
      h('p', { class: 'muted' }, t('elect.help')), form);
  }

  elo.screen('faixas', async (root) => {
    const [list, view, roster] = await Promise.all([
      elo.get('/v1/ranges'), elo.get('/v1/primary'), elo.get('/v1/records/company?limit=1000')]);
    const atPrimary = !!(list.primary && list.primary.company === elo.me.cnpj);
    const waiting = Object.entries(list.awaiting_code || {}).map(([k, n]) => `${k}: ${n}`).join(', ');
    root.append(h('h1', {}, t('ranges.title')),
      elo.section(t('ranges.title'), rangesTable(list), waiting ? h('p', { class: 'warn-text' }, t('awaiting', waiting)) : null),
      h('div', { class: 'grid two' }, rangeForm(roster.records, atPrimary), electCard(view, roster.records)));
  });
})();
