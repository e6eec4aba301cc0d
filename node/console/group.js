// Grupo: every company of the group, connected or last seen, how far
// behind, last error; "Forçar replicação" per member and for all; an
// invite with a copy button and a QR code; removal at the primary.
'use strict';
(function () {
  const elo = window.elo;
  const { h, t, fmt } = elo;

  // The roster (company records) with what the mesh knows of each member.
  async function companies(status) {
    const roster = await elo.get('/v1/records/company?limit=1000');
    const peers = new Map((status.members || []).map((p) => [p.company, p]));
    return roster.records.map((c) => ({ cnpj: c.cnpj, name: c.name, peer: peers.get(c.cnpj) }));
  }

  function connection(c, me) {
    if (c.cnpj === me) return h('span', { class: 'badge me' }, t('this.company'));
    const p = c.peer;
    if (p && p.connected) return h('span', { class: 'badge ok' }, t('connected'));
    if (p && p.last_seen_ms) return h('span', { class: 'badge warn' }, t('seen', fmt.date(p.last_seen_ms, true)));
    return h('span', { class: 'badge bad' }, t('never.seen'));
  }

  function behind(p) {
    if (!p) return '—';
    if (p.pulling) return t('pulling');
    return p.behind === 0 ? t('up.to.date') : t('behind.n', fmt.number(p.behind));
  }

  async function force(peer) {
    const r = await elo.api('POST', '/v1/resync', peer ? { peer } : {});
    if (r.ok) elo.notice(t('forced', r.data.members));
    else elo.notice(r.data.message, 'bad');
  }

  // The confirmation that says what removing a company does.
  function confirmRemoval(c, box) {
    box.replaceChildren(h('div', { class: 'confirm', role: 'alertdialog' },
      h('h3', {}, t('remove.title', `${c.name} (${fmt.doc(c.cnpj)})`)),
      h('p', {}, t('remove.text')),
      h('div', { class: 'actions' },
        elo.button(t('remove.confirm'), async () => {
          const r = await elo.api('DELETE', '/v1/members/' + encodeURIComponent(c.cnpj));
          box.replaceChildren();
          if (r.ok) { elo.notice(t('removed')); } else { elo.notice(r.data.message, 'bad'); }
        }, { class: 'danger', id: 'confirm-remove' }),
        elo.button(t('cancel'), () => box.replaceChildren(), { class: 'secondary' }))));
  }

  function memberRows(list, status, confirmBox) {
    const me = status.company.cnpj;
    const atPrimary = status.group && status.group.primary === me;
    return list.map((c) => {
      const p = c.peer;
      const actions = c.cnpj === me ? [] : [
        elo.button(t('force.one'), () => force(c.cnpj), { class: 'small', 'data-force': c.cnpj }),
        atPrimary ? elo.button(t('remove'), () => confirmRemoval(c, confirmBox), { class: 'small danger-outline', 'data-remove': c.cnpj }) : null
      ];
      return h('tr', { 'data-member': c.cnpj },
        h('td', { class: 'mono' }, fmt.doc(c.cnpj)),
        h('td', {}, c.name),
        h('td', { 'data-col': 'connection' }, connection(c, me)),
        h('td', { class: 'mono small-text' }, (p && p.address) || '—'),
        h('td', { 'data-col': 'behind' }, behind(p)),
        h('td', { class: 'num' }, p ? fmt.number(p.docs_received) : '—'),
        h('td', { class: 'error-text' }, (p && p.last_error) || ''),
        h('td', { class: 'actions' }, actions));
    });
  }

  function inviteCard() {
    const out = h('div', { class: 'invite-out' });
    const make = async () => {
      const r = await elo.api('POST', '/v1/invites', {});
      if (!r.ok) { elo.notice(r.data.message, 'bad'); return; }
      const line = h('textarea', { readonly: true, rows: 3, id: 'invite-line', class: 'mono' });
      line.value = r.data.invite;
      const qr = h('div', { class: 'qr', id: 'invite-qr' });
      const copied = h('span', { class: 'muted' });
      out.replaceChildren(line,
        h('div', { class: 'actions' },
          elo.button(t('invite.copy'), async () => {
            try { await navigator.clipboard.writeText(line.value); } catch (_) { line.select(); document.execCommand('copy'); }
            copied.textContent = t('invite.copied');
          }, { id: 'invite-copy' }), copied),
        h('p', { class: 'muted' }, t('invite.help', fmt.date(r.data.expires_ms, true))), qr);
      const svg = await fetch('/ui/qr', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': elo.csrf },
        body: JSON.stringify({ text: r.data.invite })
      });
      if (svg.ok) {
        // The SVG is drawn by this node from the invite; parsed as SVG only.
        const doc = new DOMParser().parseFromString((await svg.json()).svg, 'image/svg+xml');
        qr.replaceChildren(document.importNode(doc.documentElement, true));
      }
    };
    return elo.section(t('invite.title'), elo.button(t('invite.make'), make, { id: 'invite-make' }), out);
  }

  elo.screen('grupo', async (root) => {
    const summary = h('div', { class: 'summary' });
    const rows = h('tbody');
    const confirmBox = h('div');
    const table = h('table', { id: 'members' },
      h('thead', {}, h('tr', {}, ['col.cnpj', 'col.name', 'col.connection', 'col.address', 'col.behind',
        'col.received', 'col.error', 'col.actions'].map((k) => h('th', { class: k === 'col.received' ? 'num' : '' }, t(k))))), rows);
    const draw = async () => {
      const status = await elo.get('/v1/status');
      const list = await companies(status);
      const primary = status.group && status.group.primary;
      summary.replaceChildren(
        h('div', {}, h('span', { class: 'label' }, t('this.company')), h('b', {}, status.company.name), ' ', fmt.doc(status.company.cnpj)),
        h('div', {}, h('span', { class: 'label' }, t('primary')), primary ? `${fmt.doc(primary)} (${t('term')} ${status.group.term})` : t('no.primary')),
        h('div', {}, h('span', { class: 'label' }, t('group.records')), fmt.number(status.records)),
        h('div', {}, h('span', { class: 'label' }, t('group.documents')), fmt.number(status.documents)));
      rows.replaceChildren(...memberRows(list, status, confirmBox));
    };
    await draw();
    root.append(
      h('h1', {}, t('group.title')), summary,
      elo.section(t('group.title'),
        h('div', { class: 'actions' }, elo.button(t('force.all'), () => force(null), { id: 'force-all' })),
        table, confirmBox),
      inviteCard());
    // Connections and catch-ups change without records changing: asked again.
    const timer = setInterval(() => { draw().catch(() => {}); }, 2000);
    return () => clearInterval(timer);
  });
})();
