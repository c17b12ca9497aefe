// Herald admin console. Plain module, no dependencies; runs under
// Content-Security-Policy default-src 'self' (no inline code or styles).
//
// Four pages, chosen by the URL's hash: #overview (charts from GET /overview), #messages
// (compose, filter and page through messages, a message's funnel and breakdown), #reminders
// (create, edit, pause, delete, with a preview of the next firings) and #subscriptions.

import { stackedBars, horizontalBars, fmt } from './charts.js';
import { setupRichCompose, richFields, resetRich, tagAudience, FieldError } from './compose-rich.js';

const TOKEN_KEY = 'herald-admin-token';
const REFRESH_MS = 15000;

const $ = (id) => document.getElementById(id);
const els = {
  login: $('login'),
  loginForm: $('login-form'),
  token: $('token'),
  loginButton: $('login-button'),
  loginResult: $('login-result'),
  console: $('console'),
  nav: $('console-nav'),
  logout: $('logout'),
  composeForm: $('compose-form'),
  composeTitle: $('compose-title'),
  toKind: $('to-kind'),
  toId: $('to-id'),
  toIdField: $('to-id-field'),
  toIdLabel: $('to-id-label'),
  title: $('title'),
  body: $('body'),
  url: $('url'),
  sendAt: $('send-at'),
  sendButton: $('send-button'),
  composeResult: $('compose-result'),
  messagesBody: $('messages-body'),
  messagesStatus: $('messages-status'),
  messagesRefresh: $('messages-refresh'),
  detail: $('message-detail'),
  detailTitle: $('detail-title'),
  detailFields: $('detail-fields'),
  detailRefresh: $('detail-refresh'),
  detailCancel: $('detail-cancel'),
  detailResult: $('detail-result'),
  detailClose: $('detail-close'),
  subsBody: $('subscriptions-body'),
  subsStatus: $('subscriptions-status'),
  subsRefresh: $('subscriptions-refresh'),
  subsFilter: $('subscriptions-filter'),
  filterKind: $('filter-kind'),
  filterId: $('filter-id'),
  messagesFilter: $('messages-filter'),
  messagesPrev: $('messages-prev'),
  messagesNext: $('messages-next'),
  messagesRange: $('messages-range'),
  detailFunnel: $('detail-funnel'),
  detailServices: $('detail-services'),
  detailFailures: $('detail-failures'),
  subsPrev: $('subscriptions-prev'),
  subsNext: $('subscriptions-next'),
  subsRange: $('subscriptions-range'),
  overviewTiles: $('overview-tiles'),
  overviewStatus: $('overview-status'),
};

const PAGES = ['overview', 'messages', 'reminders', 'subscriptions'];

let refreshTimer = null;
let openMessageId = null;
let detailOpener = null;

// ---------------------------------------------------------------- helpers

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Stored text (a title, an owner) set apart from the sentence around it: a right-to-left
 * override inside it must not reverse the rest of a confirmation or status line. */
function isolated(text) {
  return `\u2068${text}\u2069`;
}

/** Before a list is redrawn (the refresh every 15 s): if the focus is on one of its buttons,
 * returns a function that puts it back on the redrawn button with the same label, so a
 * keyboard user is not thrown to the top of the page. */
function keepFocus(container) {
  const focused = document.activeElement;
  const label = focused && container.contains(focused) ? focused.getAttribute('aria-label') : null;
  return () => {
    if (!label || container.contains(document.activeElement)) return;
    const same = [...container.querySelectorAll('[aria-label]')].find((n) => n.getAttribute('aria-label') === label);
    if (same) same.focus();
  };
}

function setResult(el, text, kind = 'info') {
  el.textContent = text;
  el.classList.toggle('error', kind === 'error');
  el.classList.toggle('ok', kind === 'ok');
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'short' });

function timeCell(value) {
  if (!value) return h('span', { class: 'muted', text: '—' });
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return h('time', { datetime: d.toISOString(), title: d.toISOString() }, dateFormat.format(d));
}

function num(value) {
  return typeof value === 'number' ? String(value) : value == null ? '—' : String(value);
}

function statusBadge(status) {
  const s = String(status || 'unknown');
  return h('span', { class: `badge badge-${s.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`, text: s });
}

function endpointLabel(endpoint) {
  try {
    const u = new URL(endpoint);
    return u.host;
  } catch {
    return String(endpoint || '—');
  }
}

class HttpError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(path, { method = 'GET', body, authToken } = {}) {
  const headers = { Accept: 'application/json', Authorization: `Bearer ${authToken || token()}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new HttpError('Herald cannot be reached.', 0, 'network');
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = data && data.error;
    const message = (err && err.message) || `HTTP ${res.status}`;
    if (res.status === 401 && !authToken) signOut('The admin token was refused; sign in again.');
    throw new HttpError(message, res.status, err && err.code);
  }
  return data;
}

// ---------------------------------------------------------------- session

function currentPage() {
  const name = location.hash.replace(/^#/, '');
  return PAGES.includes(name) ? name : 'overview';
}

/** Shows one page; `focus` moves the focus to its heading (after a navigation). */
function showPage(focus = false) {
  const name = currentPage();
  for (const page of document.querySelectorAll('.page')) page.hidden = page.dataset.page !== name;
  for (const link of els.nav.querySelectorAll('a[data-page]')) {
    if (link.dataset.page === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `Herald admin: ${name}`;
  // Charts are drawn at their container's width, which a hidden page does not have.
  if (name === 'overview' && lastOverview) renderOverview(lastOverview);
  if (focus) {
    const heading = document.querySelector(`#page-${name} h1`);
    if (heading) heading.focus();
  }
}
// The skip link's #main is no page: followed as a link it would switch to the overview.
// It moves the focus to the shown page's heading (or the sign-in field) instead.
document.querySelector('.skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  const target = els.console.hidden ? els.token : document.querySelector(`#page-${currentPage()} h1`);
  if (target) target.focus();
});
window.addEventListener('hashchange', () => {
  if (!els.console.hidden) showPage(true);
});

function showConsole(on) {
  els.login.hidden = on;
  els.console.hidden = !on;
  els.nav.hidden = !on;
  if (on) showPage();
  clearInterval(refreshTimer);
  refreshTimer = null;
  if (on) {
    refreshTimer = setInterval(() => {
      if (document.visibilityState === 'visible') refreshAll(true);
    }, REFRESH_MS);
  }
}

function signOut(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  showConsole(false);
  els.token.value = '';
  setResult(els.loginResult, reason || 'Signed out.', reason ? 'error' : 'info');
  els.token.focus();
}

els.loginForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const value = els.token.value.trim();
  if (!value) {
    setResult(els.loginResult, 'Enter the admin token.', 'error');
    els.token.focus();
    return;
  }
  els.loginButton.disabled = true;
  setResult(els.loginResult, 'Checking…');
  try {
    // The overview needs only the `read` scope: a read-only API key signs in and sees what it
    // may read; pages and actions that need more say so when the server refuses them.
    await api('/overview', { authToken: value });
    sessionStorage.setItem(TOKEN_KEY, value);
    setResult(els.loginResult, '');
    showConsole(true);
    showPage(true);
    schedulePreview();
    await refreshAll();
  } catch (err) {
    setResult(
      els.loginResult,
      err.status === 401
        ? 'That token was refused.'
        : err.status === 403
          ? `That key cannot use the console: ${err.message}.`
          : `Sign-in failed: ${err.message}`,
      'error',
    );
    els.token.focus();
  } finally {
    els.loginButton.disabled = false;
  }
});

els.logout.addEventListener('click', () => signOut());

// ---------------------------------------------------------------- compose

function syncRecipient() {
  const kind = els.toKind.value;
  const noId = kind === 'all' || kind === 'tags';
  els.toIdField.hidden = noId;
  els.toId.disabled = noId;
  $('to-tags').hidden = kind !== 'tags';
  if (!noId) els.toIdLabel.textContent = kind === 'aid' ? 'Administrator aid' : 'Client uid';
}
els.toKind.addEventListener('change', syncRecipient);

/** datetime-local ("2025-05-01T09:30") in the browser's zone → RFC 3339 UTC. */
function toRfc3339Utc(local) {
  const d = new Date(local);
  if (Number.isNaN(d.getTime())) return null;
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

els.composeForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const kind = els.toKind.value;
  const id = els.toId.value.trim();
  const title = els.title.value.trim();
  if (kind !== 'all' && kind !== 'tags' && !id) {
    setResult(els.composeResult, `Enter the recipient's ${kind}.`, 'error');
    els.toId.focus();
    return;
  }
  if (!title) {
    setResult(els.composeResult, 'A title is required.', 'error');
    els.title.focus();
    return;
  }
  let message;
  try {
    message = {
      to: kind === 'all' ? { all: 'everyone' } : kind === 'tags' ? tagAudience() : { [kind]: id },
      title,
      body: els.body.value.trim(),
      url: els.url.value.trim(),
      mode: els.composeForm.elements.mode.value || 'payload',
    };
    Object.assign(message, richFields(message.title, message.body));
  } catch (err) {
    if (!(err instanceof FieldError)) throw err;
    setResult(els.composeResult, err.message, 'error');
    const details = err.control.closest('details');
    if (details) details.open = true;
    err.control.focus();
    return;
  }
  if (!message.url) delete message.url;
  if (els.sendAt.value) {
    const at = toRfc3339Utc(els.sendAt.value);
    if (!at) {
      setResult(els.composeResult, 'The send time is not a valid date.', 'error');
      els.sendAt.focus();
      return;
    }
    message.sendAt = at;
  }
  els.sendButton.disabled = true;
  setResult(els.composeResult, 'Sending…');
  try {
    const res = await api('/messages', { method: 'POST', body: message });
    const targets = res && typeof res.targets === 'number' ? res.targets : '?';
    const when = message.sendAt ? ` for ${dateFormat.format(new Date(message.sendAt))}` : '';
    setResult(
      els.composeResult,
      `Queued${when}: message ${res && res.id ? res.id : ''} to ${targets} device${targets === 1 ? '' : 's'}.`,
      'ok',
    );
    els.title.value = '';
    els.body.value = '';
    els.url.value = '';
    els.sendAt.value = '';
    resetRich();
    messageCursors = [null];
    await loadMessages();
    // Delivery happens in the background: pick up the counts shortly.
    setTimeout(() => loadMessages(true), 2000);
    setTimeout(() => loadMessages(true), 6000);
  } catch (err) {
    setResult(els.composeResult, `Not sent: ${err.message}`, 'error');
  } finally {
    els.sendButton.disabled = false;
  }
});

// ---------------------------------------------------------------- messages

const COUNT_FIELDS = ['targets', 'pending', 'accepted', 'failed', 'gone', 'displayed', 'clicked'];
const COUNT_LABELS = {
  targets: 'Targets',
  pending: 'Pending',
  accepted: 'Accepted',
  failed: 'Failed',
  gone: 'Gone',
  displayed: 'Displayed',
  clicked: 'Clicked',
};

const PAGE_SIZE = 20;
// Keyset paging: the cursor (createdAt and id of the last message) that starts each page
// seen so far; going back pops it.
let messageCursors = [null];
let messageFilter = {};

function messagesQuery() {
  const q = new URLSearchParams({ limit: String(PAGE_SIZE + 1) });
  const cursor = messageCursors[messageCursors.length - 1];
  if (cursor) {
    q.set('before', cursor.createdAt);
    q.set('beforeId', cursor.id);
  }
  for (const [k, v] of Object.entries(messageFilter)) if (v) q.set(k, v);
  return q.toString();
}

/** A date input's day, as the start of that day (or of the next one) in the browser's zone. */
function dayStart(value, nextDay = false) {
  if (!value) return '';
  const d = new Date(`${value}T00:00:00`);
  if (Number.isNaN(d.getTime())) return '';
  if (nextDay) d.setDate(d.getDate() + 1);
  return d.toISOString();
}

els.messagesFilter.addEventListener('submit', (event) => {
  event.preventDefault();
  const f = els.messagesFilter.elements;
  messageFilter = {
    title: f.title.value.trim(),
    status: f.status.value,
    since: dayStart(f.since.value),
    until: dayStart(f.until.value, true),
  };
  messageCursors = [null];
  loadMessages();
});
els.messagesNext.addEventListener('click', () => {
  const cursor = els.messagesNext.dataset;
  if (!cursor.id) return;
  messageCursors.push({ createdAt: cursor.createdAt, id: cursor.id });
  loadMessages().then(() => els.messagesRange.focus());
});
els.messagesPrev.addEventListener('click', () => {
  if (messageCursors.length > 1) messageCursors.pop();
  loadMessages().then(() => els.messagesRange.focus());
});

async function loadMessages(quiet = false) {
  if (!quiet) setResult(els.messagesStatus, 'Loading messages…');
  try {
    const data = await api(`/messages?${messagesQuery()}`);
    const all = (data && data.messages) || [];
    const more = all.length > PAGE_SIZE;
    const list = all.slice(0, PAGE_SIZE);
    const first = (messageCursors.length - 1) * PAGE_SIZE;
    const restoreFocus = keepFocus(els.messagesBody);
    els.messagesBody.replaceChildren(
      ...list.map((m, i) =>
        h(
          'tr',
          null,
          h('td', { class: 'num', 'data-label': '#', text: String(first + i + 1) }),
          h(
            'th',
            { scope: 'row', 'data-label': 'Title' },
            h('button', {
              type: 'button',
              class: 'link-button',
              text: defaultText(m.title) || '(untitled)',
              'aria-label': `Details of message ${defaultText(m.title) || m.id}`,
              onclick: (ev) => openDetail(m.id, ev.currentTarget),
            }),
          ),
          h('td', { 'data-label': 'Status' }, statusBadge(m.status)),
          h('td', { 'data-label': 'Created' }, timeCell(m.createdAt)),
          ...COUNT_FIELDS.map((f) => h('td', { class: 'num', 'data-label': COUNT_LABELS[f], text: num(m[f]) })),
        ),
      ),
    );
    if (list.length === 0) {
      els.messagesBody.append(h('tr', null, h('td', { colspan: 11, class: 'empty', text: 'No messages.' })));
    }
    restoreFocus();
    const last = list[list.length - 1];
    els.messagesNext.disabled = !more;
    els.messagesNext.dataset.createdAt = more ? last.createdAt : '';
    els.messagesNext.dataset.id = more ? last.id : '';
    els.messagesPrev.disabled = messageCursors.length <= 1;
    const range = list.length ? `Messages ${first + 1}–${first + list.length}` : 'No messages';
    els.messagesRange.textContent = more ? `${range}; older ones follow` : `${range}; end of list`;
    els.messagesRange.setAttribute('tabindex', '-1');
    if (!quiet) setResult(els.messagesStatus, '');
    if (openMessageId && quiet) await loadDetail(true);
  } catch (err) {
    setResult(els.messagesStatus, `Could not load messages: ${err.message}`, 'error');
  }
}

function audienceLabel(to) {
  if (!to || typeof to !== 'object') return to;
  if (to.tags) {
    const parts = ['any', 'all', 'none'].filter((k) => to.tags[k] && to.tags[k].length).map((k) => `${k} of ${to.tags[k].join(', ')}`);
    return `${to.kind && to.kind !== 'everyone' ? to.kind : 'devices'} with tags: ${parts.join('; ')}`;
  }
  if (to.all != null) return to.all === 'everyone' ? 'everyone' : `all ${to.all}`;
  if (to.uid != null) return `uid ${to.uid}`;
  if (to.aid != null) return `aid ${to.aid}`;
  return JSON.stringify(to);
}

/** The default text of a title that may be a map by language. */
function defaultText(value) {
  return value && typeof value === 'object' ? value.default : value;
}

/** A title or body: one text, or `{"default": …, "uk": …}` shown one language a line. */
function textLabel(value) {
  if (!value || typeof value !== 'object') return value;
  return h('span', { class: 'texts' }, ...Object.entries(value).map(([lang, text]) => h('span', { lang: lang === 'default' ? undefined : lang }, h('span', { class: 'muted', text: `${lang}: ` }), String(text))));
}

/** Clicks per button (`default`: the notification itself), most first. */
function clicksLabel(clicks) {
  const entries = Object.entries(clicks || {});
  if (!entries.length) return null;
  entries.sort((a, b) => b[1] - a[1]);
  return h('ul', { class: 'plain', 'data-clicks': '' }, ...entries.map(([action, n]) => h('li', { 'data-action': action, text: `${action === 'default' ? 'the notification' : action}: ${fmt(n)}` })));
}

/** `{"overSeconds", "endsAt", "released"}` → "40 of 100 released; ends 09:30". */
function spreadLabel(spread, targets) {
  if (!spread) return null;
  const over = spread.overSeconds >= 3600 && spread.overSeconds % 3600 === 0 ? `${spread.overSeconds / 3600} h` : spread.overSeconds >= 60 ? `${Math.round(spread.overSeconds / 60)} min` : `${spread.overSeconds} s`;
  const ends = spread.endsAt ? `; ends ${dateFormat.format(new Date(spread.endsAt))}` : '';
  return `${fmt(spread.released)} of ${fmt(targets)} released, over ${over}${ends}`;
}

function renderDetail(m) {
  const fields = [
    ['ID', h('code', { text: String(m.id) })],
    ['To', audienceLabel(m.to || m.audience)],
    ['Title', textLabel(m.title)],
    ['Body', textLabel(m.body)],
    ['Link', m.url],
    ['Buttons', Array.isArray(m.actions) && m.actions.length ? m.actions.map((a) => `${a.title} (${a.id})`).join(', ') : null],
    ['Image', m.image],
    ['Mode', m.mode],
    ['Spread', spreadLabel(m.spread, m.targets)],
    ['Quiet hours', m.ignoreQuietHours ? 'ignored' : m.quietHours ? `${m.quietHours.from}–${m.quietHours.to}` : null],
    ['Clicks by button', clicksLabel(m.clicks)],
    ['Status', statusBadge(m.status)],
    ['Created', timeCell(m.createdAt)],
    ['Send at', timeCell(m.sendAt)],
    ['Expires', m.expiresAt ? timeCell(m.expiresAt) : null],
    ...COUNT_FIELDS.map((f) => [COUNT_LABELS[f], num(m[f])]),
  ];
  els.detailFields.replaceChildren(
    ...fields
      .filter(([, v]) => v !== undefined && v !== null && v !== '')
      .map(([k, v]) => h('div', null, h('dt', { text: k }), h('dd', null, v))),
  );
  els.detailTitle.textContent = `Message: ${defaultText(m.title) || m.id}`;
  // Only a message still waiting for its time can be cancelled (the server answers 409 once
  // it is being sent).
  els.detailCancel.hidden = m.status !== 'scheduled';
}

function renderDelivery(m, d) {
  horizontalBars(els.detailFunnel, {
    title: `Funnel of ${defaultText(m.title) || m.id}`,
    series: [{ key: 'n', label: 'Devices', tone: 'accepted' }],
    rows: [
      { label: 'Targets', values: { n: m.targets } },
      { label: 'Accepted', values: { n: m.accepted } },
      { label: 'Displayed', values: { n: m.displayed } },
      { label: 'Clicked', values: { n: m.clicked } },
    ],
  });
  const services = (d && d.services) || [];
  els.detailServices.replaceChildren(
    ...services.map((s) =>
      h(
        'tr',
        null,
        h('th', { scope: 'row', 'data-label': 'Service', text: SERVICE_LABELS[s.service] || s.service }),
        h('td', { class: 'num', 'data-label': 'Accepted', text: fmt(s.accepted) }),
        h('td', { class: 'num', 'data-label': 'Failed', text: fmt(s.failed) }),
        h('td', { class: 'num', 'data-label': 'Gone', text: fmt(s.gone) }),
      ),
    ),
  );
  if (!services.length) els.detailServices.append(h('tr', null, h('td', { colspan: 4, class: 'empty', text: 'Nothing settled yet.' })));
  const failures = (d && d.failures) || [];
  els.detailFailures.replaceChildren(
    ...failures.map((f) =>
      h(
        'tr',
        null,
        h('th', { scope: 'row', 'data-label': 'Service', text: SERVICE_LABELS[f.service] || f.service }),
        h('td', { 'data-label': 'Outcome', text: f.outcome }),
        h('td', { 'data-label': 'Last HTTP status', text: f.lastStatus == null ? 'none (not sent)' : String(f.lastStatus) }),
        h('td', { class: 'num', 'data-label': 'Targets', text: fmt(f.targets) }),
      ),
    ),
  );
  if (!failures.length) els.detailFailures.append(h('tr', null, h('td', { colspan: 4, class: 'empty', text: 'No failures.' })));
}

async function loadDetail(quiet = false) {
  if (!openMessageId) return;
  try {
    const id = encodeURIComponent(openMessageId);
    const [m, d] = await Promise.all([api(`/messages/${id}`), api(`/messages/${id}/delivery`)]);
    renderDetail(m || {});
    renderDelivery(m || {}, d);
  } catch (err) {
    if (!quiet) {
      els.detailFields.replaceChildren(h('div', null, h('dt', { text: 'Error' }), h('dd', { text: err.message })));
    }
  }
}

async function cancelOpenMessage() {
  if (!openMessageId) return;
  // Cancelling cannot be undone.
  if (!window.confirm('Cancel this scheduled message? It will not be sent.')) return;
  els.detailCancel.disabled = true;
  try {
    await api(`/messages/${encodeURIComponent(openMessageId)}`, { method: 'DELETE' });
    setResult(els.detailResult, 'Cancelled: it will not be sent.', 'ok');
    await Promise.all([loadDetail(true), loadMessages(true)]);
  } catch (err) {
    setResult(els.detailResult, `Could not cancel: ${err.message}`, 'error');
    await loadDetail(true);
  } finally {
    els.detailCancel.disabled = false;
  }
}

async function openDetail(id, opener) {
  openMessageId = id;
  els.detailCancel.hidden = true;
  setResult(els.detailResult, '');
  detailOpener = opener || null;
  els.detail.hidden = false;
  els.detailTitle.textContent = 'Message';
  els.detailFields.replaceChildren(h('div', null, h('dt', { text: 'Loading' }), h('dd', { text: '…' })));
  els.detailTitle.focus();
  await loadDetail();
}

els.detailRefresh.addEventListener('click', () => loadDetail());
els.detailCancel.addEventListener('click', cancelOpenMessage);
els.detailClose.addEventListener('click', () => {
  openMessageId = null;
  els.detail.hidden = true;
  if (detailOpener && document.contains(detailOpener)) detailOpener.focus();
  else $('messages-title').focus();
});
els.messagesRefresh.addEventListener('click', () => loadMessages());

// ---------------------------------------------------------------- subscriptions

function syncFilter() {
  els.filterId.disabled = !els.filterKind.value;
  if (!els.filterKind.value) els.filterId.value = '';
}
els.filterKind.addEventListener('change', syncFilter);

const SUBS_PAGE = 50;
// Keyset paging by id: the `after` cursor that starts each page seen so far.
let subsCursors = [''];

function subscriptionsQuery() {
  const q = new URLSearchParams({ limit: String(SUBS_PAGE + 1) });
  const kind = els.filterKind.value;
  const id = els.filterId.value.trim();
  if (kind && id) q.set(kind, id);
  const after = subsCursors[subsCursors.length - 1];
  if (after) q.set('after', after);
  return q.toString();
}

const SERVICE_LABELS = { fcm: 'FCM (Google)', mozilla: 'Mozilla', apple: 'Apple', windows: 'Windows (WNS)', other: 'Other' };

async function deleteSubscription(s, button) {
  const owner = isolated(s.uid != null ? `uid ${s.uid}` : `aid ${s.aid}`);
  if (!window.confirm(`Delete this subscription of ${owner}? That device gets no more notifications until it subscribes again.`)) return;
  button.disabled = true;
  try {
    await api(`/subscriptions/${encodeURIComponent(s.id)}`, { method: 'DELETE' });
    setResult(els.subsStatus, `Deleted the subscription of ${owner}.`, 'ok');
    await loadSubscriptions(true);
    els.subsRange.focus();
  } catch (err) {
    setResult(els.subsStatus, `Could not delete: ${err.message}`, 'error');
    button.disabled = false;
  }
}

async function loadSubscriptions(quiet = false) {
  if (!quiet) setResult(els.subsStatus, 'Loading subscriptions…');
  try {
    const data = await api(`/subscriptions?${subscriptionsQuery()}`);
    const all = (data && data.subscriptions) || [];
    const more = all.length > SUBS_PAGE;
    const list = all.slice(0, SUBS_PAGE);
    const restoreFocus = keepFocus(els.subsBody);
    els.subsBody.replaceChildren(
      ...list.map((s) => {
        const owner = s.uid != null ? `uid ${s.uid}` : s.aid != null ? `aid ${s.aid}` : '—';
        const remove = h('button', {
          type: 'button',
          class: 'danger small',
          text: 'Delete',
          'aria-label': `Delete subscription ${s.id} of ${owner}`,
        });
        remove.addEventListener('click', () => deleteSubscription(s, remove));
        return h(
          'tr',
          null,
          h('th', { scope: 'row', 'data-label': 'ID' }, h('code', { text: String(s.id) })),
          h('td', { 'data-label': 'Owner', text: owner }),
          h('td', { 'data-label': 'Push service', title: endpointLabel(s.endpoint), text: SERVICE_LABELS[s.pushService] || endpointLabel(s.endpoint) }),
          h('td', { 'data-label': 'Created' }, timeCell(s.createdAt)),
          h('td', { 'data-label': 'Last delivery' }, timeCell(s.lastSuccessAt)),
          h('td', { 'data-label': 'Actions' }, remove),
        );
      }),
    );
    if (list.length === 0) {
      els.subsBody.append(h('tr', null, h('td', { colspan: 6, class: 'empty', text: 'No subscriptions.' })));
    }
    restoreFocus();
    const total = data && typeof data.total === 'number' ? data.total : list.length;
    const first = (subsCursors.length - 1) * SUBS_PAGE;
    els.subsNext.disabled = !more;
    els.subsNext.dataset.after = more ? list[list.length - 1].id : '';
    els.subsPrev.disabled = subsCursors.length <= 1;
    els.subsRange.textContent = list.length
      ? `${fmt(first + 1)}–${fmt(first + list.length)} of ${fmt(total)}`
      : `0 of ${fmt(total)}`;
    els.subsRange.setAttribute('tabindex', '-1');
    if (!quiet) setResult(els.subsStatus, '');
  } catch (err) {
    setResult(els.subsStatus, `Could not load subscriptions: ${err.message}`, 'error');
  }
}

els.subsFilter.addEventListener('submit', (event) => {
  event.preventDefault();
  subsCursors = [''];
  loadSubscriptions();
});
els.subsRefresh.addEventListener('click', () => loadSubscriptions());
els.subsNext.addEventListener('click', () => {
  if (!els.subsNext.dataset.after) return;
  subsCursors.push(els.subsNext.dataset.after);
  loadSubscriptions().then(() => els.subsRange.focus());
});
els.subsPrev.addEventListener('click', () => {
  if (subsCursors.length > 1) subsCursors.pop();
  loadSubscriptions().then(() => els.subsRange.focus());
});

// ---------------------------------------------------------------- overview

const OUTCOME_SERIES = [
  { key: 'accepted', label: 'Accepted', tone: 'accepted' },
  { key: 'retried', label: 'Retried', tone: 'retried' },
  { key: 'failed', label: 'Failed', tone: 'failed' },
  { key: 'gone', label: 'Gone', tone: 'gone' },
];
const SERVICE_KEYS = ['fcm', 'mozilla', 'apple', 'windows', 'other'];
const SERVICE_SERIES = SERVICE_KEYS.map((k) => ({ key: k, label: SERVICE_LABELS[k], tone: k }));
const minuteFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const hourFormat = new Intl.DateTimeFormat(undefined, { weekday: 'short', hour: '2-digit', minute: '2-digit' });
const dayFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
let lastOverview = null;

function tile(key, label, value, detail) {
  return h(
    'div',
    { class: 'tile', 'data-key': key },
    h('dt', { text: label }),
    h('dd', null, h('span', { class: 'tile-value', text: value }), detail ? h('span', { class: 'tile-detail', text: detail }) : null),
  );
}

function outcomeDetail(counts) {
  return OUTCOME_SERIES.map((s) => `${fmt(counts[s.key])} ${s.label.toLowerCase()}`).join(' · ');
}

function pushBuckets(series, format, by) {
  return series.buckets.map((b) => {
    const d = new Date(b.at);
    return {
      label: format.format(d),
      short: format.format(d),
      values: by === 'service' ? b.services : b,
    };
  });
}

function renderOverview(o) {
  lastOverview = o;
  const subs = o.subscriptions;
  const sumCounts = (c) => OUTCOME_SERIES.reduce((t, s) => t + (c[s.key] || 0), 0);
  els.overviewTiles.replaceChildren(
    tile('subscriptions', 'Subscriptions', fmt(subs.total), `${fmt(subs.clients)} clients · ${fmt(subs.admins)} administrators`),
    tile('queue', 'Queue now', fmt(o.queueDepth), 'pushes waiting to be sent'),
    tile('last-hour', 'Pushes, last hour', fmt(sumCounts(o.lastHour)), outcomeDetail(o.lastHour)),
    tile('last-day', 'Pushes, last 24 hours', fmt(sumCounts(o.lastDay)), outcomeDetail(o.lastDay)),
  );
  horizontalBars($('chart-services'), {
    title: 'Subscriptions by push service',
    series: [
      { key: 'clients', label: 'Clients', tone: 'accepted' },
      { key: 'admins', label: 'Administrators', tone: 'retried' },
    ],
    rows: subs.byService.map((s) => ({ label: SERVICE_LABELS[s.service] || s.service, values: s })),
  });
  stackedBars($('chart-days'), {
    title: 'New and pruned subscriptions per day, last 30 days',
    series: [
      { key: 'created', label: 'New', tone: 'accepted' },
      { key: 'pruned', label: 'Pruned (below the line)', tone: 'gone' },
    ],
    below: ['pruned'],
    buckets: o.days.map((d) => ({ label: d.day, short: dayFormat.format(new Date(`${d.day}T00:00:00Z`)), values: d })),
  });
  renderPushCharts();
}

function renderPushCharts() {
  if (!lastOverview) return;
  const by = $('pushes-by').value;
  const series = by === 'service' ? SERVICE_SERIES : OUTCOME_SERIES;
  stackedBars($('chart-minutes'), {
    title: `Pushes per minute by ${by === 'service' ? 'push service' : 'outcome'}, last 2 hours`,
    series,
    buckets: pushBuckets(lastOverview.minutes, minuteFormat, by),
    unit: 'pushes',
  });
  stackedBars($('chart-hours'), {
    title: `Pushes per hour by ${by === 'service' ? 'push service' : 'outcome'}, last 7 days`,
    series,
    buckets: pushBuckets(lastOverview.hours, hourFormat, by),
    unit: 'pushes',
  });
}

async function loadOverview(quiet = false) {
  if (!quiet) setResult(els.overviewStatus, 'Loading the overview…');
  try {
    renderOverview(await api('/overview'));
    setResult(els.overviewStatus, `As of ${dateFormat.format(new Date(lastOverview.now))}.`);
  } catch (err) {
    setResult(els.overviewStatus, `Could not load the overview: ${err.message}`, 'error');
  }
}

$('pushes-by').addEventListener('change', renderPushCharts);
let resizeTimer = null;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    if (lastOverview && !$('page-overview').hidden) renderOverview(lastOverview);
  }, 150);
});
$('overview-refresh').addEventListener('click', () => loadOverview());

// ---------------------------------------------------------------- reminders

const WEEKDAYS = [
  ['mon', 'Mon'],
  ['tue', 'Tue'],
  ['wed', 'Wed'],
  ['thu', 'Thu'],
  ['fri', 'Fri'],
  ['sat', 'Sat'],
  ['sun', 'Sun'],
];
const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
let editingReminder = null;
let previewTimer = null;

function setupReminderForm() {
  $('r-days').append(
    ...WEEKDAYS.map(([key, label]) =>
      h('span', { class: 'choice' }, h('input', { type: 'checkbox', id: `r-day-${key}`, value: key, checked: key === 'mon' }), h('label', { for: `r-day-${key}`, text: label })),
    ),
  );
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : ['UTC'];
  $('r-zones').append(...zones.map((z) => h('option', { value: z })));
  $('r-zone').value = browserZone;
  syncReminderKind();
  syncReminderRecipient();
}

function syncReminderKind() {
  const kind = $('r-kind').value;
  $('r-at-field').hidden = kind !== 'at';
  $('r-time-field').hidden = kind !== 'daily' && kind !== 'weekly';
  $('r-cron-field').hidden = kind !== 'cron';
  $('r-days').hidden = kind !== 'weekly';
}

function syncReminderRecipient() {
  const all = $('r-to-kind').value === 'all';
  $('r-to-id-field').hidden = all;
  $('r-to-id').disabled = all;
}

/** The schedule the form describes, or a string saying what is missing. */
function reminderSchedule() {
  const kind = $('r-kind').value;
  if (kind === 'at') {
    const at = $('r-at').value;
    return at ? { at } : 'Choose the date and time.';
  }
  if (kind === 'cron') {
    const cron = $('r-cron').value.trim();
    return cron ? { cron } : 'Enter a cron pattern.';
  }
  const time = $('r-time').value.slice(0, 5);
  if (!time) return 'Choose the time.';
  if (kind === 'daily') return { daily: time };
  const days = WEEKDAYS.map(([k]) => k).filter((k) => $(`r-day-${k}`).checked);
  return days.length ? { weekly: { days, time } } : 'Choose at least one day.';
}

/** "2026-12-01T09:00:00+02:00" → "Tue, 1 Dec 2026, 09:00 (+02:00)", read as written. */
function localLabel(local, zone) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::\d{2})?([+-]\d{2}:\d{2}|Z)$/.exec(local || '');
  if (!m) return local || '—';
  const [, y, mo, d, hh, mm, off] = m;
  const date = new Date(Date.UTC(+y, +mo - 1, +d));
  const day = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' }).format(date);
  return `${day}, ${hh}:${mm} ${zone ? `${zone} ` : ''}(UTC${off === 'Z' ? '' : off})`;
}

async function updatePreview() {
  const list = $('r-preview');
  const schedule = reminderSchedule();
  if (typeof schedule === 'string') {
    list.replaceChildren(h('li', { class: 'muted', text: schedule }));
    return;
  }
  try {
    const zone = $('r-zone').value.trim() || 'UTC';
    const res = await api('/reminders/preview', { method: 'POST', body: { schedule, timezone: zone, count: 5 } });
    const firings = (res && res.firings) || [];
    list.replaceChildren(
      ...firings.map((f) => h('li', null, h('time', { datetime: f.at, text: localLabel(f.local, res.timezone) }))),
    );
    if (!firings.length) list.append(h('li', { class: 'muted', text: 'It would never fire: that time has passed.' }));
  } catch (err) {
    list.replaceChildren(h('li', { class: 'error', text: err.message }));
  }
}

function schedulePreview() {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(updatePreview, 250);
}

function resetReminderForm() {
  editingReminder = null;
  $('reminder-form').reset();
  $('r-zone').value = browserZone;
  $('r-save').textContent = 'Create reminder';
  $('reminder-form-title').textContent = 'New reminder';
  $('r-reset').textContent = 'Clear';
  syncReminderKind();
  syncReminderRecipient();
  schedulePreview();
}

/** An RFC 3339 instant as a datetime-local value in `zone`. */
function zoneLocalInput(iso, zone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    })
      .formatToParts(new Date(iso))
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}`;
}

function editReminder(r) {
  editingReminder = r.id;
  const to = r.to || {};
  const kind = to.all != null ? 'all' : to.aid != null ? 'aid' : 'uid';
  $('r-to-kind').value = kind;
  $('r-to-id').value = kind === 'all' ? '' : String(to[kind]);
  $('r-title').value = r.title || '';
  $('r-body').value = r.body || '';
  $('r-zone').value = r.timezone || 'UTC';
  $('r-paused').checked = !!r.paused;
  const s = r.schedule || {};
  if (s.at) {
    $('r-kind').value = 'at';
    $('r-at').value = zoneLocalInput(s.at, r.timezone || 'UTC');
  } else if (s.daily) {
    $('r-kind').value = 'daily';
    $('r-time').value = s.daily;
  } else if (s.weekly) {
    $('r-kind').value = 'weekly';
    $('r-time').value = s.weekly.time;
    const days = (s.weekly.days || []).map((d) => String(d).slice(0, 3).toLowerCase());
    for (const [k] of WEEKDAYS) $(`r-day-${k}`).checked = days.includes(k);
  } else if (s.cron) {
    $('r-kind').value = 'cron';
    $('r-cron').value = s.cron;
  }
  syncReminderKind();
  syncReminderRecipient();
  $('r-save').textContent = 'Save changes';
  $('reminder-form-title').textContent = `Edit reminder: ${r.title}`;
  $('r-reset').textContent = 'Stop editing';
  setResult($('r-result'), '');
  $('reminder-form-title').focus();
  schedulePreview();
}

function scheduleSummary(s) {
  if (!s) return '—';
  if (s.at) return `once`;
  if (s.daily) return `daily at ${s.daily}`;
  if (s.weekly) return `weekly on ${(s.weekly.days || []).join(', ')} at ${s.weekly.time}`;
  if (s.cron) return `cron ${s.cron}`;
  return JSON.stringify(s);
}

async function reminderAction(r, change, done) {
  try {
    if (change === 'delete') {
      if (!window.confirm(`Delete the reminder "${isolated(r.title)}"? It will not fire again.`)) return;
      await api(`/reminders/${encodeURIComponent(r.id)}`, { method: 'DELETE' });
      if (editingReminder === r.id) resetReminderForm();
    } else {
      await api(`/reminders/${encodeURIComponent(r.id)}`, { method: 'PATCH', body: change });
    }
    setResult($('reminders-status'), done, 'ok');
    await loadReminders(true);
    $('reminders-title').focus();
  } catch (err) {
    setResult($('reminders-status'), `Could not change the reminder: ${err.message}`, 'error');
  }
}

async function loadReminders(quiet = false) {
  const status = $('reminders-status');
  if (!quiet) setResult(status, 'Loading reminders…');
  try {
    const data = await api('/reminders?limit=1000');
    const list = (data && data.reminders) || [];
    const restoreFocus = keepFocus($('reminders-body'));
    $('reminders-body').replaceChildren(
      ...list.map((r) => {
        const state = r.paused ? 'paused' : r.nextFireAt ? 'active' : 'done';
        const button = (text, label, onclick, cls = 'secondary small') =>
          h('button', { type: 'button', class: cls, text, 'aria-label': `${label} ${r.title}`, onclick });
        return h(
          'tr',
          { 'data-id': r.id },
          h('th', { scope: 'row', 'data-label': 'Title', text: r.title }),
          h('td', { 'data-label': 'Schedule', text: scheduleSummary(r.schedule) }),
          h('td', { 'data-label': 'Next firing' }, r.nextFireAt ? h('time', { datetime: r.nextFireAt, text: localLabel(r.nextFireAtLocal, r.timezone) }) : h('span', { class: 'muted', text: '—' })),
          h('td', { 'data-label': 'State' }, statusBadge(state)),
          h('td', { class: 'num', 'data-label': 'Fired', text: fmt(r.fired) }),
          h(
            'td',
            { 'data-label': 'Actions' },
            h(
              'span',
              { class: 'actions' },
              button('Edit', 'Edit', () => editReminder(r)),
              r.paused
                ? button('Resume', 'Resume', () => reminderAction(r, { paused: false }, `Resumed "${isolated(r.title)}".`))
                : r.nextFireAt
                  ? button('Pause', 'Pause', () => reminderAction(r, { paused: true }, `Paused "${isolated(r.title)}".`))
                  : null,
              button('Delete', 'Delete', () => reminderAction(r, 'delete', `Deleted "${isolated(r.title)}".`), 'danger small'),
            ),
          ),
        );
      }),
    );
    if (!list.length) $('reminders-body').append(h('tr', null, h('td', { colspan: 6, class: 'empty', text: 'No reminders yet.' })));
    restoreFocus();
    if (!quiet) setResult(status, '');
  } catch (err) {
    setResult(status, `Could not load reminders: ${err.message}`, 'error');
  }
}

$('reminder-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const result = $('r-result');
  const kind = $('r-to-kind').value;
  const id = $('r-to-id').value.trim();
  const title = $('r-title').value.trim();
  const schedule = reminderSchedule();
  if (kind !== 'all' && !id) {
    setResult(result, `Enter the recipient's ${kind}.`, 'error');
    $('r-to-id').focus();
    return;
  }
  if (!title) {
    setResult(result, 'A title is required.', 'error');
    $('r-title').focus();
    return;
  }
  if (typeof schedule === 'string') {
    setResult(result, schedule, 'error');
    return;
  }
  const body = {
    to: kind === 'all' ? { all: 'everyone' } : { [kind]: id },
    title,
    schedule,
    timezone: $('r-zone').value.trim() || 'UTC',
    paused: $('r-paused').checked,
  };
  const text = $('r-body').value.trim();
  if (text) body.body = text;
  else if (editingReminder) body.body = null;
  $('r-save').disabled = true;
  try {
    const saved = editingReminder
      ? await api(`/reminders/${encodeURIComponent(editingReminder)}`, { method: 'PATCH', body })
      : await api('/reminders', { method: 'POST', body });
    const next = saved.nextFireAt ? `; next firing ${localLabel(saved.nextFireAtLocal, saved.timezone)}` : '';
    resetReminderForm();
    setResult(result, `Saved "${isolated(saved.title)}"${next}.`, 'ok');
    await loadReminders(true);
  } catch (err) {
    setResult(result, `Not saved: ${err.message}`, 'error');
  } finally {
    $('r-save').disabled = false;
  }
});
$('r-reset').addEventListener('click', () => {
  resetReminderForm();
  setResult($('r-result'), '');
});
$('r-kind').addEventListener('change', () => {
  syncReminderKind();
  schedulePreview();
});
$('r-to-kind').addEventListener('change', syncReminderRecipient);
for (const id of ['r-at', 'r-time', 'r-cron', 'r-zone', 'r-days']) {
  $(id).addEventListener('input', schedulePreview);
  $(id).addEventListener('change', schedulePreview);
}
$('reminders-refresh').addEventListener('click', () => loadReminders());

// ---------------------------------------------------------------- start

async function refreshAll(quiet = false) {
  await Promise.all([loadOverview(quiet), loadMessages(quiet), loadReminders(quiet), loadSubscriptions(quiet)]);
}

setupRichCompose(h);
syncRecipient();
syncFilter();
setupReminderForm();
if (token()) {
  showConsole(true);
  refreshAll();
  schedulePreview();
} else {
  showConsole(false);
}
