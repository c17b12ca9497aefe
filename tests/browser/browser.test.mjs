// End-to-end test of Herald's browser side in headless Chromium.
//
// Starts `herald serve` on a free loopback port with a fresh SQLite database,
// a mock push service (webpush.mjs decrypts what Herald sends it, RFC 8291),
// and Chromium driven by playwright-core. No real push service is reachable
// here, so PushManager is stubbed in the page with keys this test owns, and
// the decrypted push is handed to the service worker through the DevTools
// protocol (ServiceWorker.deliverPushMessage).
//
//   HERALD_BIN      herald binary (default ../../target/debug/herald)
//   CHROMIUM_BIN    browser (default /usr/bin/chromium)
//   HERALD_TEST_LOG print herald's log even when everything passes
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { freePort, until } from './support.mjs';
import { b64url, fromB64url, decryptWebPush, verifyVapid, startPushService, installPushStub } from './webpush.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const heraldBin = process.env.HERALD_BIN || path.resolve(here, '../../target/debug/herald');
const chromiumBin = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
// Screenshots go to an ignored directory so a test run leaves the clone clean; the ones in
// docs/screenshots/ are documentation, refreshed by copying from here on purpose.
const screenshotDir = path.join(repoRoot, 'target', 'screenshots');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));



// ---------------------------------------------------------------- the test

describe('Herald in Chromium', () => {
  const adminToken = crypto.randomBytes(24).toString('base64url');
  const ua = crypto.createECDH('prime256v1');
  ua.generateKeys();
  const authSecret = crypto.randomBytes(16);
  const pageErrors = [];

  let tmp;
  let herald;
  let heraldLog = '';
  let heraldExit = null;
  let origin;
  let push;
  let browser;
  let context;
  let page;
  let cdp;
  let failed = false;
  const registrations = new Map(); // scopeURL -> registrationId
  let subscriptionId;
  let vapidKey;
  let tickleMessageId;

  function noteConsole(where, msg) {
    const url = (msg.location() && msg.location().url) || '';
    if (/\/favicon\.ico$/.test(url)) return; // browsers ask for it on their own
    if (msg.type() === 'error' || /Content Security Policy/i.test(msg.text())) {
      pageErrors.push(`${where} console: ${msg.text()} (${url})`);
    }
  }

  const step = (name, fn) =>
    it(name, { timeout: 90000 }, async () => {
      try {
        await fn();
      } catch (err) {
        failed = true;
        throw err;
      }
    });

  async function heraldApi(method, pathname, body, token = adminToken) {
    const res = await fetch(`${origin}${pathname}`, {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    return { status: res.status, json, text };
  }

  async function notificationsShown() {
    return page.evaluate(async () => {
      const reg = await navigator.serviceWorker.ready;
      const list = await reg.getNotifications();
      return list.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }));
    });
  }

  // Hands a push to the worker through CDP and waits for the notification. Chromium now and
  // then drops a CDP-delivered push while the worker is starting up, so the delivery is
  // repeated (up to three times) until the notification shows; receipts count once anyway.
  async function deliverUntilShown(data, title) {
    let lastError;
    for (let attempt = 0; attempt < 3; attempt++) {
      await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId: await registrationId(), data });
      try {
        return await until(`the "${title}" notification`, async () =>
          (await notificationsShown()).find((n) => n.title === title),
        { timeout: 5000 });
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  }

  async function closeAllNotifications() {
    await page.evaluate(async () => {
      const reg = await navigator.serviceWorker.ready;
      for (const n of await reg.getNotifications()) n.close();
    });
  }

  async function registrationId() {
    return until('the service worker registration (CDP)', () => {
      for (const [scope, id] of registrations) if (scope.startsWith(`${origin}/`)) return id;
      return null;
    });
  }

  async function waitForCount(messageId, field, value) {
    return until(`${field} = ${value} on message ${messageId}`, async () => {
      const r = await heraldApi('GET', `/api/v1/messages/${encodeURIComponent(messageId)}`);
      if (r.status !== 200) throw new Error(`GET message: HTTP ${r.status} ${r.text}`);
      if (r.json[field] !== value) throw new Error(`${field} is ${r.json[field]}: ${r.text}`);
      return r.json;
    });
  }

  before(async () => {
    assert.ok(fs.existsSync(heraldBin), `herald binary not found at ${heraldBin} (set HERALD_BIN)`);
    assert.ok(fs.existsSync(chromiumBin), `Chromium not found at ${chromiumBin} (apt-get install chromium)`);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-browser-'));
    push = await startPushService();

    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    herald = spawn(heraldBin, ['serve'], {
      env: {
        ...process.env,
        HERALD_LISTEN: `127.0.0.1:${port}`,
        HERALD_DATABASE_URL: `sqlite://${path.join(tmp, 'h.db')}`,
        HERALD_ADMIN_TOKEN: adminToken,
        HERALD_OWNER_TOKEN_SECRET: crypto.randomBytes(32).toString('base64url'),
        HERALD_VAPID_SUBJECT: 'mailto:test@example.com',
        HERALD_ALLOW_PRIVATE_ENDPOINTS: 'true',
        HERALD_ALLOW_HTTP_ENDPOINTS: 'true',
      },
      cwd: tmp,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk) => {
      heraldLog += chunk.toString();
      if (heraldLog.length > 400000) heraldLog = heraldLog.slice(-200000);
    };
    herald.stdout.on('data', keep);
    herald.stderr.on('data', keep);
    herald.on('exit', (code, signal) => {
      heraldExit = { code, signal };
    });

    await until(
      'herald /healthz',
      async () => {
        if (heraldExit) {
          throw Object.assign(new Error(`herald exited early (${JSON.stringify(heraldExit)}):\n${heraldLog}`), { fatal: true });
        }
        const res = await fetch(`${origin}/healthz`).catch(() => null);
        return res && res.status === 200;
      },
      { timeout: 30000, interval: 100 },
    ).catch((err) => {
      failed = true;
      throw err;
    });

    browser = await chromium.launch({
      executablePath: chromiumBin,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.grantPermissions(['notifications'], { origin });

    await installPushStub(context, { endpoint: `${push.origin}/push/1`, p256dh: b64url(ua.getPublicKey()), auth: b64url(authSecret) });

    page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => noteConsole('page', msg));
    cdp = await context.newCDPSession(page);
    cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations: regs }) => {
      for (const r of regs) {
        if (r.isDeleted) registrations.delete(r.scopeURL);
        else registrations.set(r.scopeURL, r.registrationId);
      }
    });
    await cdp.send('ServiceWorker.enable');
  });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (push) await new Promise((r) => push.server.close(() => r())).catch(() => {});
    if (herald && !heraldExit) {
      herald.kill('SIGTERM');
      const deadline = Date.now() + 5000;
      while (!heraldExit && Date.now() < deadline) await sleep(50);
      if (!heraldExit) herald.kill('SIGKILL');
    }
    if ((failed || process.env.HERALD_TEST_LOG) && heraldLog) {
      const lines = heraldLog.trimEnd().split('\n');
      console.log(`--- herald log (last ${Math.min(lines.length, 80)} lines) ---\n${lines.slice(-80).join('\n')}`);
    }
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  step('serves the VAPID key, the library, the worker and the pages', async () => {
    const res = await fetch(`${origin}/api/v1/vapid-public-key`);
    assert.equal(res.status, 200);
    ({ publicKey: vapidKey } = await res.json());
    const raw = fromB64url(vapidKey);
    assert.equal(raw.length, 65, 'VAPID public key is an uncompressed P-256 point');
    assert.equal(raw[0], 4);
    for (const p of ['/herald.js', '/herald-sw.js', '/demo/', '/demo/client-portal.html', '/admin/']) {
      const r = await fetch(`${origin}${p}`);
      assert.equal(r.status, 200, `GET ${p}`);
    }
    const sw = await fetch(`${origin}/herald-sw.js`);
    assert.match(sw.headers.get('content-type') || '', /javascript/, 'the worker needs a JavaScript MIME type');
  });

  step('client portal: log in as uid 42 and enable notifications', async () => {
    await page.goto(`${origin}/demo/client-portal.html`);
    await page.fill('#owner-id', '42');
    await page.fill('#admin-token', adminToken);
    await page.click('#login-button');
    await page.locator('#push-banner').waitFor({ state: 'visible' });
    await page.locator('#enable-notifications').waitFor({ state: 'visible' });
    fs.mkdirSync(screenshotDir, { recursive: true });
    await page.screenshot({ path: path.join(screenshotDir, 'client-portal.png') });

    await page.click('#enable-notifications');
    await until('the page to report subscribed', () => page.evaluate(() => document.body.dataset.pushState === 'subscribed'), {
      timeout: 20000,
    }).catch(async (err) => {
      const msg = await page.locator('#message').textContent().catch(() => '');
      throw new Error(`${err.message}; page says: ${msg}; errors: ${pageErrors.join(' | ')}`);
    });
    assert.equal(await page.locator('#push-banner').isHidden(), true, 'the banner goes away once subscribed');
    assert.equal(await page.evaluate(async () => (await import('/herald.js')).state()), 'subscribed');

    const record = await page.evaluate(
      () =>
        new Promise((resolve, reject) => {
          const open = indexedDB.open('herald');
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const get = open.result.transaction('registration').objectStore('registration').get('current');
            get.onsuccess = () => resolve(get.result);
            get.onerror = () => reject(get.error);
          };
        }),
    );
    assert.equal(record.api, origin);
    assert.ok(record.id && record.secret, 'IndexedDB holds id and secret');
    subscriptionId = record.id;

    const list = await heraldApi('GET', '/api/v1/subscriptions?uid=42');
    assert.equal(list.status, 200, list.text);
    assert.equal(list.json.subscriptions.length, 1, list.text);
    const sub = list.json.subscriptions[0];
    assert.equal(String(sub.uid), '42');
    assert.equal(sub.endpoint, `${push.origin}/push/1`);
    assert.equal(String(sub.id), String(subscriptionId));
    await registrationId();
  });

  step('payload push: decrypted by the test, shown by the worker, displayed receipt', async () => {
    const sent = await heraldApi('POST', '/api/v1/messages?wait=true', {
      to: { uid: '42' },
      title: 'Balance low',
      body: 'Top up',
      url: '/demo/',
    });
    assert.ok([200, 202].includes(sent.status), `send: HTTP ${sent.status} ${sent.text}`);
    assert.ok(sent.json.id, 'message id');
    assert.equal(sent.json.targets, 1);

    const got = await push.waitFor(1, 0);
    assert.equal(got.headers['content-encoding'], 'aes128gcm');
    assert.ok(got.headers.ttl !== undefined, 'TTL header');
    verifyVapid(got.headers, push.origin, vapidKey);
    const plaintext = decryptWebPush(got.body, ua, authSecret);
    const declarative = JSON.parse(plaintext);
    assert.equal(declarative.web_push, 8030, plaintext);
    assert.equal(declarative.notification.title, 'Balance low', plaintext);
    assert.equal(declarative.notification.body, 'Top up', plaintext);
    assert.equal(String(declarative.notification.data.messageId), String(sent.json.id), plaintext);

    const shown = await deliverUntilShown(plaintext, 'Balance low');
    assert.equal(shown.body, 'Top up');
    assert.equal(String(shown.data.messageId), String(sent.json.id));
    assert.ok(shown.data.url && new URL(shown.data.url, origin).pathname === '/demo/', `url ${shown.data.url}`);

    const detail = await waitForCount(sent.json.id, 'displayed', 1);
    assert.equal(detail.accepted, 1, JSON.stringify(detail));
    await closeAllNotifications();
  });

  step('tickle push: empty push, the worker fetches the message, displayed receipt', async () => {
    const sent = await heraldApi('POST', '/api/v1/messages?wait=true', {
      to: { uid: '42' },
      title: 'Planned outage tonight',
      body: 'From 01:00 to 03:00',
      url: '/demo/client-portal.html',
      mode: 'tickle',
    });
    assert.ok([200, 202].includes(sent.status), `send: HTTP ${sent.status} ${sent.text}`);
    assert.equal(sent.json.targets, 1);

    const got = await push.waitFor(1, 1);
    assert.equal(got.body.length, 0, 'a tickle push has no body');
    verifyVapid(got.headers, push.origin, vapidKey);

    const shown = await deliverUntilShown('', 'Planned outage tonight');
    assert.equal(shown.body, 'From 01:00 to 03:00');
    assert.equal(String(shown.data.messageId), String(sent.json.id));
    await waitForCount(sent.json.id, 'displayed', 1);

    const { id, secret } = await page.evaluate(
      () =>
        new Promise((resolve, reject) => {
          const open = indexedDB.open('herald');
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const get = open.result.transaction('registration').objectStore('registration').get('current');
            get.onsuccess = () => resolve(get.result);
          };
        }),
    );
    const again = await heraldApi('GET', `/api/v1/subscriptions/${encodeURIComponent(id)}/messages`, undefined, secret);
    assert.equal(again.status, 200, again.text);
    assert.ok(
      !again.json.messages.some((m) => String(m.id) === String(sent.json.id)),
      `the message is not handed out twice: ${again.text}`,
    );
    tickleMessageId = sent.json.id;
  });

  step('notification click: closes it and posts a clicked receipt', async () => {
    // Headless Chromium has no notification UI to click, so the click is
    // dispatched inside the worker with the real Notification object. Such a
    // synthetic event may not call waitUntil (it throws); the worker starts
    // its receipt before that call, which is what is checked here.
    const worker = await until('the service worker in Playwright', () =>
      context.serviceWorkers().find((w) => w.url() === `${origin}/herald-sw.js`),
    );
    const dispatched = await worker.evaluate(async (title) => {
      const [n] = (await self.registration.getNotifications()).filter((x) => x.title === title);
      if (!n) return false;
      try {
        self.dispatchEvent(new NotificationEvent('notificationclick', { notification: n }));
      } catch {
        /* waitUntil on an untrusted event */
      }
      return true;
    }, 'Planned outage tonight');
    assert.ok(dispatched, 'the tickle notification is still shown');
    await waitForCount(tickleMessageId, 'clicked', 1);
    await until('the clicked notification to close', async () =>
      !(await notificationsShown()).some((n) => n.title === 'Planned outage tonight'),
    );
    await closeAllNotifications();
  });

  /** A new page with the admin console signed in; its errors and console output are noted. */
  async function signInToAdminConsole() {
    const admin = await context.newPage();
    admin.on('pageerror', (err) => pageErrors.push(`admin pageerror: ${err.message}`));
    admin.on('console', (msg) => noteConsole('admin', msg));
    await admin.goto(`${origin}/admin/#messages`);
    await admin.fill('#token', adminToken);
    await admin.click('#login-button');
    await admin.locator('#console').waitFor({ state: 'visible' });
    return admin;
  }

  step('admin console: sign in and list messages and subscriptions', async () => {
    const admin = await signInToAdminConsole();
    await until('both messages listed', async () => (await admin.locator('#messages-body tr').count()) >= 2);
    await until('the subscription listed', async () =>
      /uid 42/.test((await admin.locator('#subscriptions-body').textContent()) || ''),
    );
    const text = await admin.locator('#messages-body').textContent();
    assert.match(text, /Balance low/);
    assert.match(text, /Planned outage tonight/);
    await admin.fill('#title', 'Maintenance window');
    await admin.fill('#body', 'The billing system restarts at 02:00.');
    await admin.selectOption('#to-kind', 'all');
    await admin.evaluate(() => document.activeElement && document.activeElement.blur());
    await admin.screenshot({ path: path.join(screenshotDir, 'admin-console.png'), fullPage: true });
    await admin.close();
  });

  step('admin console: cancel a scheduled message', async () => {
    const sendAt = new Date(Date.now() + 86_400_000).toISOString();
    const created = await heraldApi('POST', '/api/v1/messages', { to: { uid: 42 }, title: 'Backup reminder', sendAt });
    assert.equal(created.status, 202, created.text); // accepted for later
    const id = created.json.id;
    const admin = await signInToAdminConsole();
    await admin.getByRole('button', { name: 'Details of message Backup reminder' }).click();
    const cancel = admin.locator('#detail-cancel');
    await cancel.waitFor({ state: 'visible' });
    // The console asks first; declining keeps the message.
    admin.once('dialog', (dialog) => dialog.dismiss());
    await cancel.click();
    assert.equal((await heraldApi('GET', `/api/v1/messages/${encodeURIComponent(id)}`)).json.status, 'scheduled');
    admin.once('dialog', (dialog) => dialog.accept());
    await cancel.click();
    await until('the detail to show the message cancelled', async () =>
      /Cancelled: it will not be sent/.test((await admin.locator('#detail-result').textContent()) || '') &&
      /cancelled/.test((await admin.locator('#detail-fields').textContent()) || ''),
    );
    assert.ok(await cancel.isHidden(), 'no cancel button once cancelled');
    const after = await heraldApi('GET', `/api/v1/messages/${encodeURIComponent(id)}`);
    assert.equal(after.json.status, 'cancelled', after.text);
    // A message already sent offers no cancel button.
    await admin.getByRole('button', { name: 'Details of message Balance low' }).click();
    await until('the sent message detail', async () =>
      /Balance low/.test((await admin.locator('#detail-title').textContent()) || ''),
    );
    assert.ok(await cancel.isHidden(), 'a sent message cannot be cancelled');
    await admin.close();
  });

  step('client portal: disabling notifications removes this device from Herald', async () => {
    await page.goto(`${origin}/demo/client-portal.html`);
    await until('the portal to show subscribed', () => page.evaluate(() => document.body.dataset.pushState === 'subscribed'));
    await page.click('#push-toggle');
    await until('the portal to show unsubscribed', () => page.evaluate(() => document.body.dataset.pushState === 'unsubscribed'));
    const list = await heraldApi('GET', '/api/v1/subscriptions?uid=42');
    assert.equal(list.status, 200, list.text);
    assert.equal(list.json.subscriptions.length, 0, list.text);
    const gone = await heraldApi('GET', `/api/v1/subscriptions/${encodeURIComponent(subscriptionId)}/messages`, undefined, 'x');
    assert.ok(gone.status === 401 || gone.status === 404, `old subscription still answers: ${gone.status}`);
    assert.equal(await page.evaluate(async () => (await import('/herald.js')).state()), 'unsubscribed');
  });

  step('administrator profile: subscribe and unsubscribe as aid 1', async () => {
    const profile = await context.newPage();
    profile.on('pageerror', (err) => pageErrors.push(`profile pageerror: ${err.message}`));
    profile.on('console', (msg) => noteConsole('profile', msg));
    await profile.goto(`${origin}/demo/admin-profile.html`);
    await profile.fill('#owner-id', '1');
    await profile.fill('#admin-token', adminToken);
    await profile.click('#login-button');
    const toggle = profile.locator('#push-toggle');
    await toggle.waitFor({ state: 'visible' });
    assert.equal((await toggle.textContent()).trim(), 'Subscribe');
    await toggle.click();
    await until('the profile to show subscribed', () => profile.evaluate(() => document.body.dataset.pushState === 'subscribed'));
    assert.equal((await toggle.textContent()).trim(), 'Unsubscribe');
    const subscribed = await heraldApi('GET', '/api/v1/subscriptions?aid=1');
    assert.equal(subscribed.json.subscriptions.length, 1, subscribed.text);
    assert.equal(String(subscribed.json.subscriptions[0].aid), '1');
    await toggle.click();
    await until('the profile to show unsubscribed', () => profile.evaluate(() => document.body.dataset.pushState === 'unsubscribed'));
    const after = await heraldApi('GET', '/api/v1/subscriptions?aid=1');
    assert.equal(after.json.subscriptions.length, 0, after.text);
    await profile.close();
  });

  step('no script errors or CSP violations in the pages', async () => {
    assert.deepEqual(pageErrors, []);
  });
});
