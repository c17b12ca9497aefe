// Herald admin console. Plain module, no dependencies; runs under
// Content-Security-Policy default-src 'self' (no inline code or styles).

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
};

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

function showConsole(on) {
  els.login.hidden = on;
  els.console.hidden = !on;
  els.nav.hidden = !on;
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
    await api('/subscriptions?limit=1', { authToken: value });
    sessionStorage.setItem(TOKEN_KEY, value);
    setResult(els.loginResult, '');
    showConsole(true);
    els.composeTitle.focus();
    await refreshAll();
  } catch (err) {
    setResult(
      els.loginResult,
      err.status === 401 || err.status === 403 ? 'That token was refused.' : `Sign-in failed: ${err.message}`,
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
  const all = els.toKind.value === 'all';
  els.toIdField.hidden = all;
  els.toId.disabled = all;
  if (!all) els.toIdLabel.textContent = els.toKind.value === 'aid' ? 'Administrator aid' : 'Client uid';
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
  if (kind !== 'all' && !id) {
    setResult(els.composeResult, `Enter the recipient's ${kind}.`, 'error');
    els.toId.focus();
    return;
  }
  if (!title) {
    setResult(els.composeResult, 'A title is required.', 'error');
    els.title.focus();
    return;
  }
  const message = {
    to: kind === 'all' ? { all: 'everyone' } : { [kind]: id },
    title,
    body: els.body.value.trim(),
    url: els.url.value.trim(),
    mode: els.composeForm.elements.mode.value || 'payload',
  };
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

async function loadMessages(quiet = false) {
  if (!quiet) setResult(els.messagesStatus, 'Loading messages…');
  try {
    const data = await api('/messages?limit=20');
    const list = (data && data.messages) || [];
    els.messagesBody.replaceChildren(
      ...list.map((m) =>
        h(
          'tr',
          null,
          h(
            'th',
            { scope: 'row', 'data-label': 'Title' },
            h('button', {
              type: 'button',
              class: 'link-button',
              text: m.title || '(untitled)',
              'aria-label': `Details of message ${m.title || m.id}`,
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
      els.messagesBody.append(h('tr', null, h('td', { colspan: 10, class: 'empty', text: 'No messages yet.' })));
    }
    if (!quiet) setResult(els.messagesStatus, `${list.length} most recent message${list.length === 1 ? '' : 's'}.`);
    if (openMessageId && quiet) await loadDetail(true);
  } catch (err) {
    setResult(els.messagesStatus, `Could not load messages: ${err.message}`, 'error');
  }
}

function audienceLabel(to) {
  if (!to || typeof to !== 'object') return to;
  if (to.all != null) return to.all === 'everyone' ? 'everyone' : `all ${to.all}`;
  if (to.uid != null) return `uid ${to.uid}`;
  if (to.aid != null) return `aid ${to.aid}`;
  return JSON.stringify(to);
}

function renderDetail(m) {
  const fields = [
    ['ID', h('code', { text: String(m.id) })],
    ['To', audienceLabel(m.to || m.audience)],
    ['Title', m.title],
    ['Body', m.body],
    ['Link', m.url],
    ['Mode', m.mode],
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
  els.detailTitle.textContent = `Message: ${m.title || m.id}`;
  // Only a message still waiting for its time can be cancelled (the server answers 409 once
  // it is being sent).
  els.detailCancel.hidden = m.status !== 'scheduled';
}

async function loadDetail(quiet = false) {
  if (!openMessageId) return;
  try {
    const m = await api(`/messages/${encodeURIComponent(openMessageId)}`);
    renderDetail(m || {});
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

function subscriptionsQuery() {
  const q = new URLSearchParams({ limit: '50' });
  const kind = els.filterKind.value;
  const id = els.filterId.value.trim();
  if (kind && id) q.set(kind, id);
  return q.toString();
}

async function loadSubscriptions(quiet = false) {
  if (!quiet) setResult(els.subsStatus, 'Loading subscriptions…');
  try {
    const data = await api(`/subscriptions?${subscriptionsQuery()}`);
    const list = (data && data.subscriptions) || [];
    els.subsBody.replaceChildren(
      ...list.map((s) => {
        const owner = s.uid != null ? `uid ${s.uid}` : s.aid != null ? `aid ${s.aid}` : '—';
        return h(
          'tr',
          null,
          h('th', { scope: 'row', 'data-label': 'ID' }, h('code', { text: String(s.id) })),
          h('td', { 'data-label': 'Owner', text: owner }),
          h('td', { 'data-label': 'Push service', title: s.endpoint || '', text: endpointLabel(s.endpoint) }),
          h('td', { 'data-label': 'Created' }, timeCell(s.createdAt)),
          h('td', { 'data-label': 'Last delivery' }, timeCell(s.lastSuccessAt)),
        );
      }),
    );
    if (list.length === 0) {
      els.subsBody.append(h('tr', null, h('td', { colspan: 5, class: 'empty', text: 'No subscriptions.' })));
    }
    const total = data && typeof data.total === 'number' ? data.total : list.length;
    if (!quiet) setResult(els.subsStatus, `Showing ${list.length} of ${total} subscription${total === 1 ? '' : 's'}.`);
  } catch (err) {
    setResult(els.subsStatus, `Could not load subscriptions: ${err.message}`, 'error');
  }
}

els.subsFilter.addEventListener('submit', (event) => {
  event.preventDefault();
  loadSubscriptions();
});
els.subsRefresh.addEventListener('click', () => loadSubscriptions());

// ---------------------------------------------------------------- start

async function refreshAll(quiet = false) {
  await Promise.all([loadMessages(quiet), loadSubscriptions(quiet)]);
}

syncRecipient();
syncFilter();
if (token()) {
  showConsole(true);
  refreshAll();
} else {
  showConsole(false);
}
