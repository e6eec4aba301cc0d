// Compartilhamento: "Dados para compartilhamento" (send / receive by
// category, the seed's layout), pending authorisations with "Autorizar",
// the companies taken in with "Revogar", and "Restringir compartilhamento".
'use strict';
(function () {
  const elo = window.elo;
  const { h, t, fmt } = elo;
  const CATEGORIES = ['customers', 'suppliers', 'products', 'credit_limit', 'product_parameters',
    'sale_price', 'additional_fields', 'tax_rates', 'units'];
  const RESTRICTABLE = ['min_quantity', 'max_quantity', 'supplier', 'location', 'cost_price',
    'average_cost', 'sale_price', 'promotional_price'];

  // The API's "all", "none" or "a,b" as a set of categories.
  function categorySet(text) {
    const s = String(text || '').trim();
    if (s === 'all') return new Set(CATEGORIES);
    if (s === '' || s === 'none') return new Set();
    return new Set(s.split(',').map((x) => x.trim()));
  }
  const listed = (set) => (set.size === 0 ? 'none' : CATEGORIES.filter((c) => set.has(c)).join(','));
  const categoryWords = (text) => {
    const set = categorySet(text);
    if (set.size === CATEGORIES.length) return elo.lang === 'en' ? 'all' : 'todas';
    return CATEGORIES.filter((c) => set.has(c)).map((c) => t('cat.' + c)).join(', ') || t('none');
  };

  function shareCard(policy) {
    const sends = categorySet(policy.sends);
    const receives = categorySet(policy.receives);
    const box = (dir, c, on) => h('input', { type: 'checkbox', id: `${dir}-${c}`, name: `${dir}-${c}`, checked: on });
    const form = h('form', { id: 'share-form' },
      elo.table([t('share.category'), t('share.send'), t('share.receive')], CATEGORIES.map((c) =>
        h('tr', {}, h('td', {}, h('label', { for: `receive-${c}` }, t('cat.' + c))),
          h('td', { class: 'check' }, box('send', c, sends.has(c))),
          h('td', { class: 'check' }, box('receive', c, receives.has(c)))))),
      h('span', { class: 'field-error', 'data-error-for': 'sends' }),
      h('span', { class: 'field-error', 'data-error-for': 'receives' }),
      h('p', { class: 'form-error' }),
      h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'share-save' }, t('confirm'))));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const pick = (dir) => new Set(CATEGORIES.filter((c) => form.querySelector(`#${dir}-${c}`).checked));
      const r = await elo.api('PUT', '/v1/share', { sends: listed(pick('send')), receives: listed(pick('receive')) });
      if (r.ok) { elo.clearErrors(form); elo.notice(t('share.saved')); } else elo.showErrors(form, r, 'receives');
    });
    return elo.section(t('share.title'), form);
  }

  function pendingCard(policy) {
    const rows = (policy.pending || []).map((p) => h('tr', { 'data-pending': p.company },
      h('td', { class: 'mono' }, fmt.doc(p.company)), h('td', {}, p.name), h('td', {}, categoryWords(p.categories)),
      h('td', { class: 'actions' }, elo.button(t('authorize'), async () => {
        const r = await elo.api('POST', '/v1/authorizations', { from: p.company });
        if (r.ok) { await elo.refresh(); elo.notice(t('authorized', p.name)); } else elo.notice(r.data.message, 'bad');
      }, { 'data-authorize': p.company }))));
    return elo.section(t('pending.title'), rows.length
      ? elo.table([t('col.cnpj'), t('col.name'), t('col.categories'), ''], rows, { id: 'pending' })
      : h('p', { class: 'muted', id: 'pending-none' }, t('pending.none')));
  }

  function authorizedCard(policy) {
    const rows = (policy.authorized || []).map((a) => h('tr', { 'data-authorized': a.company },
      h('td', { class: 'mono' }, a.company === '*' ? '*' : fmt.doc(a.company)),
      h('td', {}, a.company === '*' ? t('every.member') : a.name), h('td', {}, categoryWords(a.categories)),
      h('td', { class: 'actions' }, elo.button(t('revoke'), async () => {
        const r = await elo.api('DELETE', '/v1/authorizations/' + encodeURIComponent(a.company));
        if (r.ok) { await elo.refresh(); elo.notice(t('revoked')); } else elo.notice(r.data.message, 'bad');
      }, { class: 'small secondary', 'data-revoke': a.company }))));
    return elo.section(t('authorized.title'), rows.length
      ? elo.table([t('col.cnpj'), t('col.name'), t('col.categories'), ''], rows, { id: 'authorized' })
      : h('p', { class: 'muted' }, t('authorized.none')));
  }

  function restrictCard(policy) {
    const now = new Set(policy.restricted || []);
    const form = h('form', { id: 'restrict-form' },
      h('p', { class: 'muted' }, t('restrict.help')),
      h('p', { class: 'reminder' }, now.size ? t('restrict.now', [...now].map((f) => t('f.' + f)).join(', ')) : ''),
      h('div', { class: 'checks' }, RESTRICTABLE.map((f) => h('label', { class: 'check-line' },
        h('input', { type: 'checkbox', id: 'restrict-' + f, checked: now.has(f) }), t('f.' + f)))),
      h('span', { class: 'field-error', 'data-error-for': 'fields' }),
      h('p', { class: 'form-error' }),
      h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'restrict-save' }, t('restrict.button'))));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const fields = RESTRICTABLE.filter((f) => form.querySelector('#restrict-' + f).checked);
      const r = await elo.api('PUT', '/v1/restricted', { fields });
      if (r.ok) { await elo.refresh(); elo.notice(t('restrict.saved')); } else elo.showErrors(form, r, 'fields');
    });
    return elo.section(t('restrict.title'), form);
  }

  elo.screen('compartilhamento', async (root) => {
    const policy = await elo.get('/v1/share');
    root.append(h('h1', {}, t('nav.compartilhamento')),
      h('div', { class: 'grid two' }, shareCard(policy),
        h('div', {}, pendingCard(policy), authorizedCard(policy))),
      restrictCard(policy));
  });
})();
