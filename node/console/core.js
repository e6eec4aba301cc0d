// What every screen uses: words (words.json), formats (pt-BR money, dates, CNPJ/CPF),
// the API through the console (session cookie + CSRF token), field errors
// next to their fields, the live change stream, and the screen router.
'use strict';
(function () {
  const elo = window.elo = window.elo || {};
  elo.words = {};
  elo.csrf = document.querySelector('meta[name="csrf-token"]').content;
  const langCookie = document.cookie.match(/(?:^|;\s*)elo_lang=(pt|en)/);
  elo.lang = langCookie ? langCookie[1] : 'pt';
  document.documentElement.lang = elo.lang === 'en' ? 'en' : 'pt-BR';

  // A word in the chosen language, with {0}, {1}… filled in.
  elo.t = function (key, ...args) {
    const both = elo.words[key];
    let s = both ? (elo.lang === 'en' && both[1] !== undefined ? both[1] : both[0]) : key;
    args.forEach((a, i) => { s = s.replace('{' + i + '}', a); });
    return s;
  };

  // A record field's label: the schema's Portuguese ("Razão social"), or
  // in English its name in words ("trade name").
  elo.fieldLabels = {};
  elo.label = function (kind, name) {
    const pt = (elo.fieldLabels[kind] || {})[name] || elo.words['field.' + name]?.[0];
    if (elo.lang === 'en') return elo.words['field.' + name]?.[1] || String(name).replace(/_/g, ' ');
    return pt || name;
  };

  // An API error in the chosen language: by its code and field
  // (err.CODE.FIELD, then err.CODE), else the API's own text.
  elo.errorText = function (code, field, apiText) {
    const keys = (field ? ['err.' + code + '.' + field] : []).concat(['err.' + code]);
    const known = keys.find((k) => elo.words[k]);
    return known ? elo.t(known) : apiText;
  };

  // An element: h('td', {class: 'x', on: {click: f}}, 'text', child…).
  // Text is always set as text, never parsed as HTML.
  elo.h = function (tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === false || v === null || v === undefined) continue;
      if (k === 'on') { for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn); }
      else if (k === 'class') el.className = v;
      else if (k === 'checked' || k === 'value' || k === 'disabled') el[k] = v;
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  };
  const h = elo.h;

  const locale = () => (elo.lang === 'en' ? 'en-US' : 'pt-BR');
  elo.fmt = {
    // "1500.50" → R$ 1.500,50 (amounts come as exact strings).
    money(v) {
      if (v === null || v === undefined || v === '') return '—';
      const n = Number(v);
      if (!Number.isFinite(n)) return String(v);
      return new Intl.NumberFormat(locale(), { style: 'currency', currency: 'BRL' }).format(n);
    },
    number(v) {
      if (v === null || v === undefined || v === '') return '—';
      const n = Number(v);
      if (!Number.isFinite(n)) return String(v);
      return new Intl.NumberFormat(locale(), { maximumFractionDigits: 3 }).format(n);
    },
    // Milliseconds since 1970 → 31/12/2026 (with the time when asked).
    date(ms, withTime) {
      if (!ms) return '—';
      const o = { day: '2-digit', month: '2-digit', year: 'numeric' };
      if (withTime) { o.hour = '2-digit'; o.minute = '2-digit'; }
      return new Intl.DateTimeFormat(locale(), o).format(new Date(ms));
    },
    // "2026-12-31" → 31/12/2026, without a time zone moving the day.
    day(s) {
      const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(s || ''));
      if (!m) return s || '—';
      return elo.lang === 'en' ? `${m[2]}/${m[3]}/${m[1]}` : `${m[3]}/${m[2]}/${m[1]}`;
    },
    // 14 characters → 11.222.333/0001-81; 11 digits → 529.982.247-25.
    doc(s) {
      const raw = String(s || '').replace(/[^0-9A-Za-z]/g, '').toUpperCase();
      if (raw.length === 14) return `${raw.slice(0, 2)}.${raw.slice(2, 5)}.${raw.slice(5, 8)}/${raw.slice(8, 12)}-${raw.slice(12)}`;
      if (raw.length === 11 && /^\d+$/.test(raw)) return `${raw.slice(0, 3)}.${raw.slice(3, 6)}.${raw.slice(6, 9)}-${raw.slice(9)}`;
      return s || '—';
    }
  };

  // A request to the API through the console; resolves to {ok, status, data}.
  elo.api = async function (method, path, body) {
    const opts = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
    if (method !== 'GET') opts.headers['X-CSRF-Token'] = elo.csrf;
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    const res = await fetch('/ui/api' + path, opts);
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    if (res.status === 401 && data && data.error === 'session_ended') {
      window.location.assign('/ui/ended');
    }
    return { ok: res.ok, status: res.status, data: data || {} };
  };
  // The same, for reads that the screen cannot do without.
  elo.get = async function (path) {
    const r = await elo.api('GET', path);
    if (!r.ok) throw new Error(r.data.message || (elo.t('error') + ' ' + r.status));
    return r.data;
  };

  // The API's field errors next to their fields (an element with
  // data-error-for="FIELD" in `form`), the message in the form's
  // .form-error; `fallback` names the field a fieldless error belongs to.
  elo.showErrors = function (form, res, fallback) {
    elo.clearErrors(form);
    elo.notice('');
    const fields = (res.data && res.data.fields) || [];
    const general = form.querySelector('.form-error');
    let placed = false;
    const slotOf = (name) => form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
    const code = res.data && res.data.error;
    for (const f of fields) {
      // "states[0]" and "address.city" belong next to "states", "address".
      const base = String(f.field).split(/[.[]/)[0];
      const slot = slotOf(f.field) || slotOf(base);
      if (slot) { say(slot, elo.errorText(code, base, f.reason), f.reason); placed = true; }
    }
    const apiText = (res.data && res.data.message) || (elo.t('error') + ' ' + res.status);
    const message = elo.errorText(code, fallback, apiText);
    const slot = fallback ? form.querySelector(`[data-error-for="${CSS.escape(fallback)}"]`) : null;
    if (!placed && slot) say(slot, message, apiText);
    else if (general) say(general, message, apiText);
  };
  // The translated words, with the API's own (which names the details:
  // the range it overlaps, the limit) kept beside them.
  function say(slot, text, apiText) {
    slot.textContent = text;
    slot.title = apiText || '';
    if (apiText && apiText !== text) slot.append(elo.h('small', { class: 'api-text' }, apiText));
  }
  elo.clearErrors = function (form) {
    form.querySelectorAll('[data-error-for], .form-error').forEach((e) => { e.textContent = ''; });
  };

  // A line at the top of the screen saying what happened.
  elo.notice = function (text, kind) {
    const box = document.getElementById('notice');
    if (!box) return;
    box.className = 'notice ' + (kind || 'ok');
    box.textContent = text;
  };

  elo.section = (title, ...kids) => h('section', { class: 'card' }, h('h2', {}, title), ...kids);
  // A table; a heading given as [text, 'num'] is a column of numbers.
  elo.table = (heads, rows, attrs) =>
    h('table', attrs || {}, h('thead', {}, h('tr', {}, heads.map((x) =>
      (Array.isArray(x) ? h('th', { class: x[1] }, x[0]) : h('th', {}, x))))),
    rows instanceof HTMLTableSectionElement ? rows : h('tbody', {}, rows));
  elo.button = (text, onClick, attrs) =>
    h('button', Object.assign({ type: 'button', on: { click: onClick } }, attrs || {}), text);
  // A labelled input with its error slot.
  elo.field = (label, input, name) =>
    h('label', { class: 'field' }, h('span', {}, label), input, h('span', { class: 'field-error', 'data-error-for': name }));

  // The change stream: one EventSource for the whole page; screens listen.
  const listeners = new Set();
  elo.onChange = (fn) => { listeners.add(fn); return () => listeners.delete(fn); };
  function stream(since) {
    const live = document.getElementById('live');
    const es = new EventSource('/ui/api/v1/changes/stream?since=' + since);
    es.addEventListener('open', () => { live.textContent = '● ' + elo.t('live'); live.className = 'live on'; });
    es.addEventListener('error', () => { live.textContent = '○ ' + elo.t('offline'); live.className = 'live off'; });
    es.addEventListener('change', (ev) => {
      let change = null;
      try { change = JSON.parse(ev.data); } catch (_) { return; }
      listeners.forEach((fn) => fn(change));
    });
  }

  // The screens, in the menu's order; each file adds its own.
  elo.screens = [];
  elo.screen = (id, render) => elo.screens.push({ id, render });
  let cleanup = null;
  async function show() {
    const id = (window.location.hash || '#grupo').slice(1);
    const screen = elo.screens.find((s) => s.id === id) || elo.screens[0];
    document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('active', a.dataset.screen === screen.id));
    if (cleanup) { cleanup(); cleanup = null; }
    const main = document.getElementById('main');
    main.replaceChildren(h('p', { class: 'muted' }, elo.t('loading')));
    const body = h('div', { class: 'screen', id: 'screen-' + screen.id });
    try {
      cleanup = (await screen.render(body)) || null;
      main.replaceChildren(h('div', { id: 'notice', class: 'notice' }), body);
    } catch (e) {
      main.replaceChildren(h('p', { class: 'notice bad' }, String(e.message || e)));
    }
  }
  elo.refresh = show;

  async function start() {
    // The words of both languages: each key with its pt-BR text and its
    // English one (without one, the Portuguese is shown).
    const json = async (name) => (await fetch('/ui/assets/' + name, { credentials: 'same-origin' })).json();
    [elo.words, elo.fieldLabels] = await Promise.all([json('words.json'), json('fields.json')]);
    const nav = document.getElementById('nav');
    nav.replaceChildren(...elo.screens.map((s) => h('a', { href: '#' + s.id, 'data-screen': s.id }, elo.t('nav.' + s.id))));
    const lang = document.getElementById('lang');
    lang.textContent = elo.t('lang.other');
    lang.addEventListener('click', () => {
      const next = elo.lang === 'en' ? 'pt' : 'en';
      document.cookie = `elo_lang=${next}; Path=/ui; SameSite=Strict; Max-Age=31536000`;
      window.location.reload();
    });
    const out = document.getElementById('logout');
    out.textContent = elo.t('logout');
    out.addEventListener('click', async () => {
      await fetch('/ui/logout', { method: 'POST', headers: { 'X-CSRF-Token': elo.csrf }, credentials: 'same-origin' });
      window.location.assign('/ui/ended');
    });
    window.addEventListener('hashchange', show);
    try {
      const status = await elo.get('/v1/status');
      elo.me = status.company;
      document.getElementById('company').textContent = `${status.company.name} · ${elo.fmt.doc(status.company.cnpj)}`;
      stream(status.last_seq || 0);
    } catch (_) { stream(0); }
    show();
  }
  document.addEventListener('DOMContentLoaded', start);
})();
