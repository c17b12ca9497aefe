/*
 * Herald service worker.
 *
 * Plain script, no build step. Register it from a page with herald.js's
 * subscribe(); it must be served from the origin of the pages it controls
 * (see the top comment in herald.js for hosting it on another site).
 *
 * State: IndexedDB database "herald", object store "registration", key
 * "current" holds {api, id, secret}, written by herald.js when the page
 * subscribes. `api` is Herald's base URL (no trailing slash), `id` and
 * `secret` identify this device's subscription to Herald.
 *
 * Every push shows a notification (the subscription is userVisibleOnly):
 *  - a payload push carries a Declarative Web Push message
 *    ({"web_push": 8030, "notification": {...}}), shown as it is;
 *  - an empty ("tickle") push makes the worker fetch this device's waiting
 *    messages from Herald and show each of them;
 *  - when neither gives anything, a generic "New message" is shown.
 * Both carry the same fields (declarative names / the API's camelCase names):
 * actions (buttons, as many as Notification.maxActions allows), image, badge,
 * require_interaction / requireInteraction, silent, renotify, lang, dir, the
 * sender's data, and app_badge / appBadge (the number on the app's icon, set
 * with navigator.setAppBadge where the browser has it).
 * After a notification is shown, and when it is clicked, the worker posts a
 * receipt to Herald ("displayed" / "clicked"; a click on a button adds
 * "action": its id). A button opens its URL only on this worker's origin.
 */
'use strict';

const DB_NAME = 'herald';
const DB_VERSION = 1;
const STORE = 'registration';
const RECORD_KEY = 'current';
const GENERIC_TITLE = 'New message';
const GENERIC_TAG = 'herald-generic';
const DECLARATIVE_MAGIC = 8030;

// ---------------------------------------------------------------- IndexedDB

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(STORE)) db.createObjectStore(STORE);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error('IndexedDB open blocked'));
  });
}

async function withStore(mode, fn) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req ? req.result : undefined);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error || new Error('IndexedDB transaction aborted'));
    });
  } finally {
    db.close();
  }
}

async function readRecord() {
  try {
    const rec = await withStore('readonly', (s) => s.get(RECORD_KEY));
    if (rec && typeof rec.api === 'string' && rec.id && rec.secret) return rec;
  } catch (err) {
    console.warn('[herald-sw] cannot read registration record', err);
  }
  return null;
}

function writeRecord(rec) {
  return withStore('readwrite', (s) => s.put(rec, RECORD_KEY));
}

// ---------------------------------------------------------------- Herald API

function apiUrl(rec, path) {
  return `${rec.api.replace(/\/+$/, '')}/api/v1${path}`;
}

function authHeaders(rec, extra) {
  return Object.assign({ Authorization: `Bearer ${rec.secret}` }, extra || {});
}

/** `action`: the id of the button clicked; left out for the notification itself. */
async function sendReceipt(messageId, eventName, action) {
  if (!messageId) return;
  const rec = await readRecord();
  if (!rec) return;
  const receipt = { messageId: String(messageId), event: eventName };
  if (action) receipt.action = String(action);
  try {
    const res = await fetch(apiUrl(rec, `/subscriptions/${encodeURIComponent(rec.id)}/receipts`), {
      method: 'POST',
      headers: authHeaders(rec, { 'Content-Type': 'application/json' }),
      body: JSON.stringify(receipt),
      credentials: 'omit',
      cache: 'no-store',
    });
    if (!res.ok) console.warn(`[herald-sw] receipt ${eventName} for ${messageId}: HTTP ${res.status}`);
  } catch (err) {
    console.warn(`[herald-sw] receipt ${eventName} for ${messageId} failed`, err);
  }
}

async function fetchWaitingMessages() {
  const rec = await readRecord();
  if (!rec) return [];
  const res = await fetch(apiUrl(rec, `/subscriptions/${encodeURIComponent(rec.id)}/messages`), {
    headers: authHeaders(rec, { Accept: 'application/json' }),
    credentials: 'omit',
    cache: 'no-store',
  });
  if (!res.ok) throw new Error(`HTTP ${res.status} fetching messages`);
  const body = await res.json();
  return Array.isArray(body && body.messages) ? body.messages : [];
}

// ---------------------------------------------------------------- notifications

/** Options without null/undefined members (a null tag or icon would become the string "null"). */
function cleanOptions(options) {
  const out = {};
  for (const [k, v] of Object.entries(options)) {
    if (v !== undefined && v !== null && v !== '') out[k] = v;
  }
  return out;
}

async function show(title, options, messageId) {
  try {
    await self.registration.showNotification(title || GENERIC_TITLE, cleanOptions(options));
  } catch (err) {
    // A browser that refuses one of the richer options still shows the text.
    console.warn('[herald-sw] showing the full notification failed; showing the text only', err);
    const { body, icon, tag, data } = options;
    await self.registration.showNotification(title || GENERIC_TITLE, cleanOptions({ body, icon, tag, data }));
  }
  if (messageId) await sendReceipt(messageId, 'displayed');
}

/** The most buttons this browser shows; all of them when it does not say. */
function actionLimit() {
  const max = typeof Notification !== 'undefined' ? Notification.maxActions : undefined;
  return typeof max === 'number' && max >= 0 ? max : Infinity;
}

/**
 * Buttons for showNotification() and the map {id: url or null} the click
 * handler reads back. Entries are {action, title, navigate} (declarative) or
 * {id, title, url} (API). URLs stay out of the shown options: a browser that
 * navigates by itself would skip the click receipt.
 */
function actionsFrom(list) {
  const shown = [];
  const urls = {};
  if (!Array.isArray(list)) return { shown, urls };
  for (const a of list) {
    if (shown.length >= actionLimit()) break;
    if (!a || typeof a !== 'object') continue;
    const id = a.action != null ? a.action : a.id;
    if (id == null || id === '' || !a.title) continue;
    shown.push({ action: String(id), title: String(a.title) });
    const url = a.navigate != null ? a.navigate : a.url;
    urls[String(id)] = url ? String(url) : null;
  }
  return { shown, urls };
}

const DIRECTIONS = ['auto', 'ltr', 'rtl'];

/**
 * showNotification() options for a message in the API's camelCase shape
 * (tickle messages as fetched; declarative ones through fromDeclarative).
 * Flags are set only when true; renotify only with a tag (browsers refuse it
 * without one).
 */
function optionsFor(m) {
  const { shown, urls } = actionsFrom(m.actions);
  const options = {
    body: m.body,
    icon: m.icon,
    image: m.image,
    badge: m.badge,
    tag: m.tag,
    lang: m.lang,
    dir: DIRECTIONS.includes(m.dir) ? m.dir : undefined,
    timestamp: typeof m.timestamp === 'number' ? m.timestamp : undefined,
    data: {
      url: m.url || null,
      messageId: m.id != null ? String(m.id) : null,
      actions: urls,
      data: m.data !== undefined ? m.data : null,
    },
  };
  if (shown.length > 0) options.actions = shown;
  if (m.requireInteraction === true) options.requireInteraction = true;
  if (m.silent === true) options.silent = true;
  if (m.renotify === true && m.tag) options.renotify = true;
  return options;
}

/** Sets (or with 0 clears) the number on the app's icon, where the browser can. */
async function setAppBadge(count) {
  if (!Number.isInteger(count) || count < 0) return;
  const nav = self.navigator;
  if (!nav || typeof nav.setAppBadge !== 'function') return;
  try {
    if (count === 0 && typeof nav.clearAppBadge === 'function') await nav.clearAppBadge();
    else await nav.setAppBadge(count);
  } catch (err) {
    console.warn('[herald-sw] setting the app badge failed', err);
  }
}

/** A declarative message in the API's shape; the sender's object is data.data. */
function fromDeclarative(msg) {
  const n = msg.notification;
  const d = n.data && typeof n.data === 'object' ? n.data : {};
  return {
    id: d.messageId != null ? d.messageId : d.message_id,
    title: n.title,
    body: n.body,
    url: n.navigate,
    icon: n.icon,
    image: n.image,
    badge: n.badge,
    tag: n.tag,
    lang: n.lang,
    dir: n.dir,
    timestamp: n.timestamp,
    requireInteraction: n.require_interaction,
    silent: n.silent,
    renotify: n.renotify,
    actions: n.actions,
    data: d.data,
    appBadge: msg.app_badge,
  };
}

/** The Declarative Web Push message in a push, or null for a tickle / unknown payload. */
function declarativeFrom(data) {
  if (!data) return null;
  let text;
  try {
    text = data.text();
  } catch {
    return null;
  }
  if (!text) return null;
  try {
    const msg = JSON.parse(text);
    if (msg && msg.web_push === DECLARATIVE_MAGIC && msg.notification && typeof msg.notification === 'object') {
      return fromDeclarative(msg);
    }
  } catch {
    /* not JSON: treat as a tickle */
  }
  return null;
}

function timestampOf(value) {
  const t = value ? Date.parse(value) : NaN;
  return Number.isFinite(t) ? t : undefined;
}

async function showGeneric() {
  await self.registration.showNotification(GENERIC_TITLE, { tag: GENERIC_TAG });
}

async function handlePush(data) {
  const m = declarativeFrom(data);
  if (m) {
    await show(m.title, optionsFor(m), m.id);
    await setAppBadge(m.appBadge);
    return;
  }

  // Tickle: ask Herald what is waiting for this device.
  let messages = [];
  try {
    messages = await fetchWaitingMessages();
  } catch (err) {
    console.warn('[herald-sw] fetching messages failed', err);
  }
  if (messages.length === 0) {
    await showGeneric();
    return;
  }
  const results = await Promise.allSettled(
    messages.map((m) => show(m.title, optionsFor(Object.assign({}, m, { timestamp: timestampOf(m.createdAt) })), m.id)),
  );
  if (results.every((r) => r.status === 'rejected')) await showGeneric();
  // Messages come oldest first: the newest badge count wins.
  const badged = messages.filter((m) => Number.isInteger(m.appBadge));
  if (badged.length > 0) await setAppBadge(badged[badged.length - 1].appBadge);
}

self.addEventListener('push', (event) => {
  event.waitUntil(
    handlePush(event.data).catch(async (err) => {
      console.warn('[herald-sw] push handling failed', err);
      await showGeneric();
    }),
  );
});

// ---------------------------------------------------------------- clicks

async function focusOrOpen(url) {
  let target;
  try {
    target = new URL(url, self.location.href).href;
  } catch {
    return;
  }
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const existing = windows.find((c) => c.url === target);
  if (existing && 'focus' in existing) {
    await existing.focus();
    return;
  }
  if (self.clients.openWindow) await self.clients.openWindow(target);
}

/** `url` resolved against this worker's origin, or null when it leads elsewhere. */
function sameOriginUrl(url) {
  let target;
  try {
    target = new URL(url, self.location.origin);
  } catch {
    return null;
  }
  return target.origin === self.location.origin ? target.href : null;
}

self.addEventListener('notificationclick', (event) => {
  const notification = event.notification;
  notification.close();
  const data = notification.data || {};
  const actions = data.actions && typeof data.actions === 'object' ? data.actions : {};
  // Only a button this message defined counts as an action; a button without
  // a URL opens what the notification itself would.
  const action =
    typeof event.action === 'string' && Object.prototype.hasOwnProperty.call(actions, event.action)
      ? event.action
      : '';
  let url = data.url;
  if (action && actions[action]) {
    url = sameOriginUrl(actions[action]);
    if (!url) console.warn(`[herald-sw] button ${action}: ${actions[action]} is not on this origin; not opened`);
  }
  // Start the receipt first, but do not make the window wait for it: a
  // window may only be opened shortly after the click.
  const receipt = sendReceipt(data.messageId, 'clicked', action);
  const navigate = url
    ? focusOrOpen(url).catch((err) => console.warn('[herald-sw] opening window failed', err))
    : Promise.resolve();
  event.waitUntil(Promise.all([receipt, navigate]));
});

// ---------------------------------------------------------------- subscription changes

function base64UrlToBytes(value) {
  const b64 = value.replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

async function applicationServerKeyFor(event, rec) {
  const old = event.oldSubscription;
  if (old && old.options && old.options.applicationServerKey) return old.options.applicationServerKey;
  const res = await fetch(apiUrl(rec, '/vapid-public-key'), { credentials: 'omit', cache: 'no-store' });
  if (!res.ok) throw new Error(`HTTP ${res.status} fetching the VAPID key`);
  const { publicKey } = await res.json();
  return base64UrlToBytes(publicKey);
}

async function resubscribe(event) {
  const rec = await readRecord();
  if (!rec) return;
  let sub = event.newSubscription || null;
  if (!sub) {
    const applicationServerKey = await applicationServerKeyFor(event, rec);
    sub = await self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey });
  }
  const res = await fetch(apiUrl(rec, `/subscriptions/${encodeURIComponent(rec.id)}/replace`), {
    method: 'POST',
    headers: authHeaders(rec, { 'Content-Type': 'application/json', Accept: 'application/json' }),
    body: JSON.stringify({ subscription: sub.toJSON() }),
    credentials: 'omit',
  });
  if (!res.ok) throw new Error(`HTTP ${res.status} replacing the subscription`);
  const body = await res.json();
  if (!body || !body.id || !body.secret) throw new Error('Herald answered without id and secret');
  await writeRecord({ api: rec.api, id: String(body.id), secret: String(body.secret) });
}

self.addEventListener('pushsubscriptionchange', (event) => {
  event.waitUntil(resubscribe(event).catch((err) => console.warn('[herald-sw] resubscribe failed', err)));
});

// ---------------------------------------------------------------- lifecycle

self.addEventListener('install', (event) => {
  event.waitUntil(self.skipWaiting());
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});
