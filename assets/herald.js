/*
 * herald.js — page library for Herald Web Push subscriptions.
 *
 * An ES module with no dependencies and no build step:
 *
 *   import { subscribe, unsubscribe, state } from 'https://herald.example/herald.js';
 *
 *   await subscribe({ api: 'https://herald.example', ownerToken });       // token from your backend
 *   await subscribe({ api: 'https://herald.example', registerUrl: '/push/register' });
 *   await subscribe({ api, ownerToken, tags: ['district:12', 'tariff:home-100'] });
 *   await unsubscribe({ api: 'https://herald.example' });                 // this device only
 *   await state();   // 'unsupported' | 'denied' | 'subscribed' | 'unsubscribed'
 *
 * Two ways to tie the device to a user:
 *  - ownerToken: the host application's backend asks Herald for a short-lived
 *    owner token (POST /api/v1/owner-tokens with the admin token, body
 *    {"uid": "..."} or {"aid": "..."}) and hands it to the page; the page posts
 *    the subscription straight to Herald with it.
 *  - registerUrl: the page posts {"subscription": ...} to an endpoint of the
 *    host application (same-origin cookies are sent), which registers it with
 *    Herald server-side using the admin token and returns Herald's
 *    {"id", "secret"}.
 *
 * Either way the registration body also carries, for Herald to pick each
 * message's language and hold pushes during quiet hours:
 *  - languages: the browser's languages, most preferred first
 *    (navigator.languages, else [navigator.language]);
 *  - timeZone: the device's IANA time zone (Intl), e.g. "Europe/Kyiv";
 *  - tags: the segments passed to subscribe({tags}), when given. With an
 *    ownerToken, Herald accepts only tags the token carries (the backend asks
 *    for {"uid": "...", "tags": [...]}): a page cannot put itself into a
 *    segment. A registerUrl endpoint decides itself which tags it passes on.
 * A registerUrl endpoint should pass languages and timeZone on unchanged.
 *
 * Hosting on another origin. A service worker can only be registered from the
 * origin of the page, so a host application at https://portal.example that
 * uses Herald at https://herald.example must serve the worker itself:
 *  - copy herald-sw.js to its own web root (https://portal.example/herald-sw.js),
 *    or reverse-proxy /herald-sw.js to Herald's /herald-sw.js;
 *  - pass serviceWorkerUrl (and scope) to subscribe() if it lives elsewhere;
 *    a scope wider than the worker's folder needs the Service-Worker-Allowed
 *    header.
 * The worker then talks to Herald cross-origin (messages, receipts), as does
 * this library, so Herald's CORS allow-list must include the host origin:
 * HERALD_CORS_ORIGINS=https://portal.example. If the host sends a
 * Content-Security-Policy, its connect-src must allow the Herald origin.
 *
 * The library and the worker share one IndexedDB record: database "herald",
 * object store "registration", key "current" = {api, id, secret}.
 */

const DB_NAME = 'herald';
const DB_VERSION = 1;
const STORE = 'registration';
const RECORD_KEY = 'current';

/** Whether this browser can receive Web Push at all. */
export function isSupported() {
  return (
    typeof navigator !== 'undefined' &&
    'serviceWorker' in navigator &&
    typeof window !== 'undefined' &&
    'PushManager' in window &&
    'Notification' in window
  );
}

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
  const rec = await withStore('readonly', (s) => s.get(RECORD_KEY));
  return rec && rec.id && rec.secret ? rec : null;
}

const writeRecord = (rec) => withStore('readwrite', (s) => s.put(rec, RECORD_KEY));
const clearRecord = () => withStore('readwrite', (s) => s.delete(RECORD_KEY));

// ---------------------------------------------------------------- helpers

function trimApi(api) {
  if (typeof api !== 'string' || api === '') throw new TypeError('herald: `api` (Herald base URL) is required');
  return api.replace(/\/+$/, '');
}

/** base64url (padded or not) to bytes, as applicationServerKey wants them. */
export function base64UrlToBytes(value) {
  const b64 = String(value).trim().replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

function sameBytes(a, b) {
  if (!a || !b) return false;
  const bytes = (v) => (ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v));
  const x = bytes(a);
  const y = bytes(b);
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** An Error carrying Herald's {"error": {"code", "message"}} when there is one. */
async function errorFrom(res, what) {
  let code = `http_${res.status}`;
  let message = `${what} failed: HTTP ${res.status}`;
  let errField;
  try {
    const body = await res.json();
    if (body && body.error) {
      if (body.error.code) code = String(body.error.code);
      if (body.error.message) message = String(body.error.message);
      if (body.error.field) errField = String(body.error.field);
    }
  } catch {
    /* not JSON */
  }
  const err = new Error(message);
  err.code = code;
  err.status = res.status;
  if (errField !== undefined) err.field = errField;
  return err;
}

async function requestJson(url, init, what) {
  const res = await fetch(url, init);
  if (!res.ok) throw await errorFrom(res, what);
  if (res.status === 204) return null;
  return res.json();
}

function waitActive(registration) {
  if (registration.active) return Promise.resolve(registration);
  const worker = registration.installing || registration.waiting;
  if (!worker) return navigator.serviceWorker.ready;
  return new Promise((resolve, reject) => {
    const onChange = () => {
      if (worker.state === 'activated') {
        worker.removeEventListener('statechange', onChange);
        resolve(registration);
      } else if (worker.state === 'redundant') {
        worker.removeEventListener('statechange', onChange);
        // Replaced by a newer worker: fall back to whatever becomes active.
        if (registration.active) resolve(registration);
        else reject(new Error('herald: the service worker failed to install'));
      }
    };
    worker.addEventListener('statechange', onChange);
    onChange();
  });
}

async function currentRegistration(scope) {
  if (!isSupported()) return null;
  return (await navigator.serviceWorker.getRegistration(scope)) || null;
}

/** The browser's languages, most preferred first. */
function browserLanguages() {
  const list =
    Array.isArray(navigator.languages) && navigator.languages.length > 0 ? navigator.languages : [navigator.language];
  // Herald takes at most 32; nobody reads past the first few.
  return list.filter((l) => typeof l === 'string' && l !== '').slice(0, 16);
}

/** The device's IANA time zone, or undefined when Intl cannot tell. */
function browserTimeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The registration body: the subscription, extra fields and, when `device` is true, what
 * this device is like (its languages and time zone).
 */
function registrationBody(sub, tags, extra, device = true) {
  const body = Object.assign({ subscription: sub.toJSON() }, extra);
  const languages = device ? browserLanguages() : [];
  if (languages.length > 0) body.languages = languages;
  const timeZone = device ? browserTimeZone() : undefined;
  if (timeZone && timeZone !== 'Etc/Unknown') body.timeZone = timeZone;
  if (tags !== undefined) body.tags = tags;
  return body;
}

// ---------------------------------------------------------------- API

/**
 * Ask for permission (when not decided yet), register the worker, subscribe to
 * push and register the subscription with Herald, with the browser's
 * languages, its time zone and the optional `tags` (an array of strings such
 * as "district:12").
 * Resolves to {state: 'subscribed', id} | {state: 'denied'} | {state: 'unsupported'}
 * | {state: 'unsubscribed'} (the permission prompt was dismissed).
 * Rejects with an Error (with .code and .status) when Herald refuses.
 */
export async function subscribe({ api, ownerToken, registerUrl, serviceWorkerUrl = '/herald-sw.js', scope, tags } = {}) {
  if (!isSupported()) return { state: 'unsupported' };
  const base = trimApi(api);
  if (!ownerToken && !registerUrl) throw new TypeError('herald: pass `ownerToken` or `registerUrl`');
  if (tags !== undefined && !(Array.isArray(tags) && tags.every((t) => typeof t === 'string'))) {
    throw new TypeError('herald: `tags` must be an array of strings');
  }

  let permission = Notification.permission;
  if (permission === 'default') permission = await Notification.requestPermission();
  if (permission === 'denied') return { state: 'denied' };
  if (permission !== 'granted') return { state: 'unsubscribed' };

  const registration = await navigator.serviceWorker.register(serviceWorkerUrl, scope ? { scope } : undefined);
  await waitActive(registration);

  const { publicKey } = await requestJson(
    `${base}/api/v1/vapid-public-key`,
    { headers: { Accept: 'application/json' }, credentials: 'omit' },
    'Fetching the VAPID key',
  );
  const applicationServerKey = base64UrlToBytes(publicKey);

  let sub = await registration.pushManager.getSubscription();
  if (sub && !sameBytes(sub.options && sub.options.applicationServerKey, applicationServerKey)) {
    // Made for another server key (Herald's key was rotated): start over.
    await sub.unsubscribe().catch(() => {});
    sub = null;
  }
  if (!sub) sub = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey });

  const register = (device) =>
    ownerToken
      ? requestJson(
          `${base}/api/v1/subscriptions`,
          {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
            body: JSON.stringify(registrationBody(sub, tags, { ownerToken }, device)),
            credentials: 'omit',
          },
          'Registering with Herald',
        )
      : requestJson(
          registerUrl,
          {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
            body: JSON.stringify(registrationBody(sub, tags, {}, device)),
            credentials: 'same-origin',
          },
          'Registering the subscription',
        );
  let created;
  try {
    created = await register(true);
  } catch (err) {
    // A zone or language this Herald does not know (ICU says "Etc/Unknown" when it cannot
    // tell) must not keep the device from subscribing: register without them.
    if (!(err.status === 422 && ['timeZone', 'languages'].includes(err.field))) throw err;
    created = await register(false);
  }
  if (!created || !created.id || !created.secret) throw new Error('herald: the registration answer has no id and secret');

  await writeRecord({ api: base, id: String(created.id), secret: String(created.secret) });
  return { state: 'subscribed', id: String(created.id) };
}

/**
 * Stop notifications on this device only: remove the subscription from Herald,
 * unsubscribe from the push service and forget the stored record.
 */
export async function unsubscribe({ api, scope } = {}) {
  if (!isSupported()) return { state: 'unsupported' };
  const rec = await readRecord().catch(() => null);
  let failure = null;
  if (rec) {
    const base = api ? trimApi(api) : rec.api;
    const res = await fetch(`${base}/api/v1/subscriptions/${encodeURIComponent(rec.id)}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${rec.secret}` },
      credentials: 'omit',
    });
    // 404/401/403: Herald no longer knows this device; clean up locally anyway.
    if (!res.ok && ![401, 403, 404, 410].includes(res.status)) failure = await errorFrom(res, 'Unsubscribing');
  }
  if (failure) throw failure;
  const registration = await currentRegistration(scope);
  const sub = registration && (await registration.pushManager.getSubscription());
  if (sub) await sub.unsubscribe();
  await clearRecord();
  return { state: 'unsubscribed' };
}

/** 'unsupported' | 'denied' | 'subscribed' | 'unsubscribed' */
export async function state({ scope } = {}) {
  if (!isSupported()) return 'unsupported';
  if (Notification.permission === 'denied') return 'denied';
  if (Notification.permission !== 'granted') return 'unsubscribed';
  const registration = await currentRegistration(scope);
  if (!registration) return 'unsubscribed';
  const [sub, rec] = await Promise.all([
    registration.pushManager.getSubscription(),
    readRecord().catch(() => null),
  ]);
  return sub && rec ? 'subscribed' : 'unsubscribed';
}
