// Pedidos: the order settings, the rules that send orders to another
// company (add, edit, clone, delete: seed 002's "Regras de Sincronização"),
// and the orders sent and received with their status and invoice.
'use strict';
(function () {
  const elo = window.elo;
  const { h, t, fmt } = elo;
  const STATUSES = ['open', 'approved', 'in_progress', 'invoiced', 'partially_invoiced', 'fulfilled',
    'cancelled', 'awaiting_payment', 'payment_confirmed'];
  const plain = (v) => {
    if (v === null || v === undefined || (Array.isArray(v) && v.length === 0)) return '—';
    if (Array.isArray(v)) return v.map(plain).join(', ');
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  };
  // A word of the API ("sent", "approved") in the chosen language, or as it came.
  const word = (prefix, v) => (v && elo.words[prefix + v] ? t(prefix + v) : v || '—');
  const list = (text) => text.split(',').map((x) => x.trim()).filter(Boolean);

  function orderRow(o) {
    const invoice = o.invoice ? (o.invoice.number || o.invoice.access_key || plain(o.invoice)) : '—';
    return h('tr', {}, h('td', { class: 'mono' }, o.key), h('td', {}, fmt.day(o.date)), h('td', { class: 'mono' }, fmt.doc(o.customer)),
      h('td', {}, word('dir.', o.direction)), h('td', {}, h('span', { class: 'badge' }, word('status.', o.status))),
      h('td', { class: 'mono small-text' }, o.link ? plain(o.link.to || o.link.from || o.link) : '—'), h('td', { class: 'mono small-text' }, invoice));
  }

  // The form that adds a rule, or replaces the one being edited.
  function ruleForm(members) {
    const to = h('select', { id: 'rule-to' }, members.map((c) => h('option', { value: c.cnpj }, `${fmt.doc(c.cnpj)} · ${c.name}`)));
    const states = h('input', { id: 'rule-states', placeholder: 'SP, PE' });
    const channels = h('input', { id: 'rule-channels', placeholder: t('rule.channels.hint') });
    const status = h('select', { id: 'rule-status' }, STATUSES.map((s) => h('option', { value: s, selected: s === 'approved' }, t('status.' + s))));
    const form = h('form', { id: 'rule-form', class: 'inline-form' },
      elo.field(t('col.destination'), to, 'to'), elo.field(t('rule.states'), states, 'states'),
      elo.field(t('rule.channels'), channels, 'channels'), elo.field(t('col.status'), status, 'status'),
      h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'rule-save' }, t('rule.save'))),
      h('p', { class: 'form-error' }));
    let editing = null;
    form.edit = (r) => {
      editing = r.id;
      to.value = r.to; states.value = (r.states || []).join(', ');
      channels.value = (r.channels || []).join(', '); status.value = r.status;
      form.querySelector('#rule-save').textContent = t('rule.replace');
    };
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = { to: to.value, states: list(states.value), channels: list(channels.value), status: status.value };
      const r = editing === null
        ? await elo.api('POST', '/v1/order-rules', body)
        : await elo.api('PUT', '/v1/order-rules/' + editing, Object.assign({ id: editing }, body));
      if (r.ok) { await elo.refresh(); elo.notice(t('rule.saved')); } else elo.showErrors(form, r, 'states');
    });
    return form;
  }

  function ruleRows(rules, form) {
    const act = (label, attrs, run) => elo.button(label, async () => {
      const r = await run();
      if (r.ok) { await elo.refresh(); elo.notice(t('rule.saved')); } else elo.notice(r.data.message, 'bad');
    }, attrs);
    return rules.map((r) => h('tr', { 'data-rule': r.id },
      h('td', { class: 'num' }, r.id), h('td', { class: 'mono' }, fmt.doc(r.to)),
      h('td', {}, (r.states || []).join(', ') || t('rule.any')), h('td', {}, (r.channels || []).join(', ') || t('rule.any')),
      h('td', {}, t('status.' + r.status)), h('td', { class: 'warn-text' }, r.warning || ''),
      h('td', { class: 'actions' },
        elo.button(t('rule.edit'), () => form.edit(r), { class: 'small secondary', 'data-edit-rule': r.id }),
        act(t('rule.clone'), { class: 'small secondary', 'data-clone-rule': r.id }, () => elo.api('POST', `/v1/order-rules/${r.id}/clone`)),
        act(t('rule.delete'), { class: 'small danger-outline', 'data-delete-rule': r.id }, () => elo.api('DELETE', '/v1/order-rules/' + r.id)))));
  }

  elo.screen('pedidos', async (root) => {
    const [settings, rules, orders, roster] = await Promise.all([
      elo.api('GET', '/v1/order-settings'), elo.api('GET', '/v1/order-rules'), elo.api('GET', '/v1/orders?limit=100'),
      elo.get('/v1/records/company?limit=1000')]);
    const settingRows = Object.entries(settings.ok ? settings.data : {}).map(([k, v]) =>
      h('tr', {}, h('td', {}, elo.words['os.' + k] ? t('os.' + k) : k), h('td', {}, typeof v === 'boolean' ? t(v ? 'yes' : 'no') : plain(v))));
    const form = ruleForm(roster.records.filter((c) => c.cnpj !== elo.me.cnpj));
    const rows = ruleRows(rules.ok ? rules.data.rules : [], form);
    const sent = orders.ok ? orders.data.orders : [];
    root.append(h('h1', {}, t('orders.title')),
      elo.section(t('orders.rules'), rows.length
        ? elo.table([[t('col.rule'), 'num'], t('col.destination'), t('rule.states'), t('rule.channels'), t('col.status'), '', ''], rows, { id: 'rules' })
        : h('p', { class: 'muted' }, t('rules.none')), form),
      h('div', { class: 'grid two' },
        elo.section(t('orders.settings'), elo.table([t('col.field'), t('col.value')], settingRows)),
        elo.section(t('orders.list'), sent.length
          ? elo.table([t('col.order'), t('col.date'), t('col.customer'), '', t('col.status'), t('col.destination'), t('col.invoice')], sent.map(orderRow), { id: 'orders' })
          : h('p', { class: 'muted' }, t('orders.none')))));
  });
})();
