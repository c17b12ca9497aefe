// Shared script of Herald's demo pages (client portal, administrator profile).
//
// The pages stand in for a host application. What its backend would do —
// asking Herald for an owner token with the admin token — happens here in the
// browser, with an admin token the visitor pastes (kept in sessionStorage).
import { subscribe, unsubscribe, state } from '/herald.js';

const API = location.origin;
const TOKEN_KEY = 'herald-demo-admin-token';
const body = document.body;
const kind = body.dataset.ownerKind; // 'uid' | 'aid'
const SESSION_KEY = `herald-demo-login-${kind}`;
const DISMISS_KEY = `herald-demo-banner-dismissed-${kind}`;
const OWNER_KEY = 'herald-demo-subscribed-owner'; // which login this device was subscribed for

const $ = (id) => document.getElementById(id);
const els = {
  loginSection: $('login-section'),
  loginForm: $('login-form'),
  ownerId: $('owner-id'),
  adminToken: $('admin-token'),
  loginButton: $('login-button'),
  account: $('account-section'),
  accountTitle: $('account-title'),
  ownerLabel: $('owner-label'),
  status: $('push-status'),
  toggle: $('push-toggle'),
  banner: $('push-banner'),
  enable: $('enable-notifications'),
  dismiss: $('dismiss-banner'),
  logout: $('logout'),
  message: $('message'),
};

const STATUS_TEXT = {
  unsupported: 'not supported by this browser',
  denied: 'blocked in the browser settings',
  subscribed: 'on',
  unsubscribed: 'off',
};

let busy = false;

function say(text, isError = false) {
  els.message.textContent = text;
  els.message.classList.toggle('error', isError);
}

function currentOwner() {
  return sessionStorage.getItem(SESSION_KEY);
}

function ownerKey(id) {
  return `${kind}:${id}`;
}

/** What the host backend would do: an owner token for the logged-in user. */
async function fetchOwnerToken(id) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) throw new Error('The admin token is missing: log out and in again.');
  const res = await fetch(`${API}/api/v1/owner-tokens`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ [kind]: id }),
  });
  let data = null;
  try {
    data = await res.json();
  } catch {
    /* empty or not JSON */
  }
  if (!res.ok) {
    const msg = data && data.error && data.error.message;
    throw new Error(msg || `Herald refused the owner token request (HTTP ${res.status}).`);
  }
  if (!data || !data.ownerToken) throw new Error('Herald answered without an owner token.');
  return data.ownerToken;
}

/** This login's notification state: a device subscribed for someone else counts as off. */
async function loginState() {
  const s = await state();
  if (s === 'subscribed' && localStorage.getItem(OWNER_KEY) !== ownerKey(currentOwner())) return 'unsubscribed';
  return s;
}

async function render() {
  const owner = currentOwner();
  els.loginSection.hidden = Boolean(owner);
  els.account.hidden = !owner;
  if (!owner) {
    if (els.banner) els.banner.hidden = true;
    return;
  }
  els.ownerLabel.textContent = owner;
  const s = await loginState();
  els.status.textContent = STATUS_TEXT[s] || s;
  body.dataset.pushState = s;
  const canToggle = s === 'subscribed' || s === 'unsubscribed';
  els.toggle.hidden = !canToggle;
  els.toggle.disabled = busy;
  if (body.dataset.page === 'client') {
    els.toggle.textContent = s === 'subscribed' ? 'Disable notifications' : 'Enable notifications';
  } else {
    els.toggle.textContent = s === 'subscribed' ? 'Unsubscribe' : 'Subscribe';
  }
  if (els.banner) {
    // Offered right after login, until enabled or dismissed for this session.
    els.banner.hidden = s !== 'unsubscribed' || sessionStorage.getItem(DISMISS_KEY) === '1';
    els.enable.disabled = busy;
  }
}

async function enable() {
  if (busy) return;
  busy = true;
  say('Enabling notifications…');
  await render();
  try {
    const owner = currentOwner();
    const ownerToken = await fetchOwnerToken(owner);
    const result = await subscribe({ api: API, ownerToken });
    if (result.state === 'subscribed') {
      localStorage.setItem(OWNER_KEY, ownerKey(owner));
      say('Notifications are enabled on this device.');
    } else if (result.state === 'denied') {
      say('Notifications are blocked for this site. Allow them in the browser settings, then try again.', true);
    } else if (result.state === 'unsupported') {
      say('This browser cannot receive push notifications.', true);
    } else {
      say('Notifications were not enabled.');
    }
  } catch (err) {
    say(`Could not enable notifications: ${err.message}`, true);
  } finally {
    busy = false;
    await render();
  }
}

async function disable() {
  if (busy) return;
  busy = true;
  say('Turning notifications off…');
  await render();
  try {
    await unsubscribe({ api: API });
    localStorage.removeItem(OWNER_KEY);
    say('Notifications are off on this device.');
  } catch (err) {
    say(`Could not turn notifications off: ${err.message}`, true);
  } finally {
    busy = false;
    await render();
  }
}

els.loginForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const id = els.ownerId.value.trim();
  const token = els.adminToken.value.trim();
  if (!id || !token) {
    say(`Enter the ${kind} and the Herald admin token.`, true);
    (id ? els.adminToken : els.ownerId).focus();
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  sessionStorage.setItem(SESSION_KEY, id);
  sessionStorage.removeItem(DISMISS_KEY);
  say(`Logged in as ${kind} ${id}.`);
  await render();
  els.accountTitle.focus();
});

els.logout.addEventListener('click', async () => {
  sessionStorage.removeItem(SESSION_KEY);
  say('Logged out.');
  await render();
  els.ownerId.focus();
});

els.toggle.addEventListener('click', async () => {
  if ((await loginState()) === 'subscribed') await disable();
  else await enable();
});

if (els.enable) els.enable.addEventListener('click', enable);
if (els.dismiss) {
  els.dismiss.addEventListener('click', async () => {
    sessionStorage.setItem(DISMISS_KEY, '1');
    await render();
    els.toggle.focus();
  });
}

els.adminToken.value = sessionStorage.getItem(TOKEN_KEY) || '';
render().catch((err) => say(`Something went wrong: ${err.message}`, true));
