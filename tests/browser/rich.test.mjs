// Issue 16 in headless Chromium: a payload notification with two buttons and an image is
// shown with both; a tickle message is shown in the subscription's language; a click on a
// button, dispatched to the service worker's own notificationclick handler, is counted per
// button in the message status; the admin console composes such a message, previews it and
// sends one (its result line names the message, and the device gets every field).
//
// The device's browser prefers Ukrainian (navigator.languages is set before herald.js reads
// it), so the subscription records ["uk-UA", "uk", "en"].
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
import { b64url, decryptWebPush, startPushService, installPushStub } from './webpush.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const heraldBin = process.env.HERALD_BIN || path.resolve(here, '../../target/debug/herald');
const chromiumBin = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const LANGUAGES = ['uk-UA', 'uk', 'en'];

describe('Rich notifications in Chromium', () => {
  const adminToken = crypto.randomBytes(24).toString('base64url');
  const ua = crypto.createECDH('prime256v1');
  ua.generateKeys();
  const authSecret = crypto.randomBytes(16);
  const pageErrors = [];
  const registrations = new Map();
  let tmp;
  let herald;
  let heraldLog = '';
  let origin;
  let push;
  let browser;
  let context;
  let page;
  let cdp;
  let failed = false;
  let pushes = 0;
  let payMessageId;

  const step = (name, fn) =>
    it(name, { timeout: 90000 }, async () => {
      try {
        await fn();
      } catch (err) {
        failed = true;
        throw err;
      }
    });

  async function heraldApi(method, pathname, body) {
    const res = await fetch(`${origin}${pathname}`, {
      method,
      headers: { Authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {}
    return { status: res.status, json, text };
  }

  async function registrationId() {
    return until('the service worker registration (CDP)', () => {
      for (const [scope, id] of registrations) if (scope.startsWith(`${origin}/`)) return id;
      return null;
    });
  }

  async function shownNotifications() {
    return page.evaluate(async () => {
      const reg = await navigator.serviceWorker.ready;
      return (await reg.getNotifications()).map((n) => ({
        title: n.title,
        body: n.body,
        image: n.image,
        lang: n.lang,
        actions: n.actions.map((a) => ({ action: a.action, title: a.title })),
        data: n.data,
      }));
    });
  }

  // As in browser.test.mjs: a CDP push is now and then dropped while the worker starts, so it
  // is handed over again (receipts count once anyway).
  async function deliverUntilShown(data, title) {
    let lastError;
    for (let attempt = 0; attempt < 3; attempt++) {
      await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId: await registrationId(), data });
      try {
        return await until(`the "${title}" notification`, async () => (await shownNotifications()).find((n) => n.title === title), { timeout: 5000 });
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  }

  /** Sends `message` to uid 7 and returns its id and the push the mock service got. */
  async function send(message) {
    const sent = await heraldApi('POST', '/api/v1/messages?wait=true', { to: { uid: '7' }, ...message });
    assert.ok([200, 202].includes(sent.status), `send: HTTP ${sent.status} ${sent.text}`);
    assert.equal(sent.json.targets, 1, sent.text);
    const got = await push.waitFor(1, pushes++);
    return { id: sent.json.id, got };
  }

  async function messageStatus(id) {
    const r = await heraldApi('GET', `/api/v1/messages/${encodeURIComponent(id)}`);
    assert.equal(r.status, 200, r.text);
    return r.json;
  }

  before(async () => {
    assert.ok(fs.existsSync(heraldBin), `herald binary not found at ${heraldBin} (set HERALD_BIN)`);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-rich-'));
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
    const keep = (chunk) => (heraldLog = (heraldLog + chunk).slice(-200000));
    herald.stdout.on('data', keep);
    herald.stderr.on('data', keep);
    await until('herald /healthz', async () => (await fetch(`${origin}/healthz`).catch(() => null))?.status === 200, { timeout: 30000 });

    browser = await chromium.launch({
      executablePath: chromiumBin,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'uk-UA', timezoneId: 'Europe/Kyiv' });
    await context.grantPermissions(['notifications'], { origin });
    await installPushStub(context, { endpoint: `${push.origin}/push/1`, p256dh: b64url(ua.getPublicKey()), auth: b64url(authSecret) });
    await context.addInitScript((languages) => {
      Object.defineProperty(Navigator.prototype, 'languages', { get: () => languages, configurable: true });
    }, LANGUAGES);
    page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      const url = (msg.location() && msg.location().url) || '';
      if (msg.type() === 'error' && !/favicon\.ico$/.test(url)) pageErrors.push(`console: ${msg.text()} (${url})`);
    });
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
    if (push) push.server.close();
    if (herald) herald.kill('SIGTERM');
    if ((failed || process.env.HERALD_TEST_LOG) && heraldLog) console.log(`--- herald log ---\n${heraldLog.split('\n').slice(-60).join('\n')}`);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  step('the device subscribes with its languages', async () => {
    const owner = await heraldApi('POST', '/api/v1/owner-tokens', { uid: '7' });
    assert.equal(owner.status, 201, owner.text);
    await page.goto(`${origin}/demo/`);
    const ownerToken = owner.json.token || owner.json.ownerToken;
    await page.evaluate(async ({ api, ownerToken }) => (await import('/herald.js')).subscribe({ api, ownerToken }), { api: origin, ownerToken });
    const list = await heraldApi('GET', '/api/v1/subscriptions?uid=7');
    assert.equal(list.json.subscriptions.length, 1, list.text);
    await registrationId();
  });

  step('payload: two buttons and an image reach the worker and are shown', async () => {
    const { id, got } = await send({
      title: 'Balance low',
      body: 'Top up before the 1st',
      image: '/demo/balance.png',
      actions: [
        { id: 'pay', title: 'Pay now', url: '/demo/pay' },
        { id: 'later', title: 'Later', url: '/demo/' },
      ],
    });
    const plaintext = decryptWebPush(got.body, ua, authSecret);
    const n = JSON.parse(plaintext).notification;
    assert.deepEqual(n.actions.map((a) => a.action), ['pay', 'later'], plaintext);
    assert.match(n.image, /\/demo\/balance\.png$/, plaintext);
    const shown = await deliverUntilShown(plaintext, 'Balance low');
    assert.deepEqual(shown.actions, [
      { action: 'pay', title: 'Pay now' },
      { action: 'later', title: 'Later' },
    ]);
    assert.match(shown.image, /\/demo\/balance\.png$/);
    assert.deepEqual(Object.keys(shown.data.actions), ['pay', 'later']);
    assert.match(shown.data.actions.pay, /\/demo\/pay$/);
    payMessageId = id;
  });

  step('a click on a button goes through the worker and is counted per button', async () => {
    const worker = await until('the service worker in Playwright', () => context.serviceWorkers().find((w) => w.url() === `${origin}/herald-sw.js`));
    // Headless Chromium has no notification to click: the worker's own notificationclick
    // handler gets the event, with the real Notification and the button's id.
    const dispatched = await worker.evaluate(async (title) => {
      const [n] = (await self.registration.getNotifications()).filter((x) => x.title === title);
      if (!n) return false;
      try {
        self.dispatchEvent(new NotificationEvent('notificationclick', { notification: n, action: 'pay' }));
      } catch {
        /* waitUntil on an untrusted event throws after the receipt has started */
      }
      return true;
    }, 'Balance low');
    assert.ok(dispatched, 'the notification is still shown');
    // The status reads the counters and the clicks per button in two queries, so wait for both.
    const status = await until('clicks.pay = 1 and clicked = 1', async () => {
      const m = await messageStatus(payMessageId);
      return m.clicks && m.clicks.pay === 1 && m.clicked === 1 ? m : null;
    });
    assert.deepEqual(status.clicks, { pay: 1 });
    assert.equal(status.clicked, 1);
    await until('the clicked notification to close', async () => !(await shownNotifications()).some((n) => n.title === 'Balance low'));
  });

  step('tickle: the worker shows the text in the subscription language', async () => {
    const { id, got } = await send({
      mode: 'tickle',
      title: { default: 'Planned outage', uk: 'Планове відключення', de: 'Geplante Abschaltung' },
      body: { default: 'From 01:00 to 03:00', uk: 'З 01:00 до 03:00' },
    });
    assert.equal(got.body.length, 0, 'a tickle push has no body');
    const shown = await deliverUntilShown('', 'Планове відключення');
    assert.equal(shown.body, 'З 01:00 до 03:00');
    assert.equal(String(shown.data.messageId), String(id));
    await until('displayed = 1', async () => (await messageStatus(id)).displayed === 1);
  });

  step('admin console: compose with buttons and languages, preview; clicks per button in the detail', async () => {
    const admin = await context.newPage();
    admin.on('pageerror', (err) => pageErrors.push(`admin pageerror: ${err.message}`));
    await admin.goto(`${origin}/admin/#messages`);
    await admin.fill('#token', adminToken);
    await admin.click('#login-button');
    await admin.locator('#compose-form').waitFor({ state: 'visible' });
    await admin.fill('#to-id', '7');
    await admin.fill('#title', 'Invoice ready');
    await admin.fill('#body', 'December');
    await admin.click('#more-content summary');
    await admin.click('#add-action');
    assert.equal(await admin.evaluate(() => document.activeElement.dataset.key), 'id', 'the new row takes the focus');
    await admin.locator('#action-rows input[data-key="id"]').fill('pay');
    await admin.locator('#action-rows input[data-key="title"]').fill('Pay now');
    await admin.locator('#action-rows input[data-key="url"]').fill('/demo/pay');
    await admin.fill('#image', '/demo/invoice.png');
    await admin.click('#more-languages summary');
    await admin.click('#add-language');
    await admin.locator('#language-rows input[data-key="lang"]').fill('uk');
    await admin.locator('#language-rows input[data-key="title"]').fill('Рахунок готовий');
    await admin.locator('#language-rows input[data-key="body"]').fill('Грудень');
    // The preview follows the form, in the language chosen.
    assert.equal(await admin.locator('#preview .mock-title').textContent(), 'Invoice ready');
    assert.deepEqual(await admin.locator('#preview .mock-actions li').allTextContents(), ['Pay now']);
    assert.equal(await admin.locator('#preview img.mock-image').count(), 1);
    await admin.selectOption('#preview-lang', 'uk');
    assert.equal(await admin.locator('#preview .mock-title').textContent(), 'Рахунок готовий');
    assert.equal(await admin.locator('#preview .mock').getAttribute('lang'), 'uk');
    // The detail of the clicked message shows clicks per button.
    await admin.getByRole('button', { name: 'Details of message Balance low' }).click();
    await until('clicks per button in the detail', async () => /pay: 1/.test(await admin.locator('#detail-fields').textContent()));
    await admin.close();
  });

  step('admin console: Send a rich message; the result names it and the device gets every field', async () => {
    const admin = await context.newPage();
    admin.on('pageerror', (err) => pageErrors.push(`admin pageerror: ${err.message}`));
    admin.on('console', (msg) => {
      // The preview shows the pictures, which this test does not serve.
      const url = (msg.location() && msg.location().url) || '';
      if (msg.type() === 'error' && !/\/demo\/meter\.png$/.test(url)) pageErrors.push(`admin console: ${msg.text()} (${url})`);
    });
    await admin.goto(`${origin}/admin/#messages`);
    await admin.fill('#token', adminToken);
    await admin.click('#login-button');
    await admin.locator('#compose-form').waitFor({ state: 'visible' });
    await admin.fill('#to-id', '7');
    await admin.fill('#title', 'Meter reading due');
    await admin.fill('#body', 'Send it by the 25th');
    await admin.click('#more-content summary');
    const buttons = [
      ['send', 'Send it', '/demo/meter'],
      ['later', 'Remind me', '/demo/'],
    ];
    for (const [i, [id, title, url]] of buttons.entries()) {
      await admin.click('#add-action');
      const row = admin.locator('#action-rows fieldset').nth(i);
      await row.locator('input[data-key="id"]').fill(id);
      await row.locator('input[data-key="title"]').fill(title);
      await row.locator('input[data-key="url"]').fill(url);
    }
    await admin.fill('#image', '/demo/meter.png');
    await admin.click('#more-languages summary');
    await admin.fill('#lang', 'en');
    await admin.click('#add-language');
    await admin.locator('#language-rows input[data-key="lang"]').fill('uk');
    await admin.locator('#language-rows input[data-key="title"]').fill('Час передати показник');
    await admin.locator('#language-rows input[data-key="body"]').fill('Передайте до 25 числа');
    assert.deepEqual(await admin.locator('#preview .mock-actions li').allTextContents(), ['Send it', 'Remind me']);

    // The last field typed in is still focused: pressing Send blurs it first (see
    // renderPreview in compose-rich.js: that blur once cost the click).
    await admin.click('#send-button');
    const result = await until('the result line', async () => {
      const text = (await admin.locator('#compose-result').textContent()).trim();
      return /^Queued/.test(text) ? text : null;
    });
    const match = /^Queued: message (\S+) to 1 device\.$/.exec(result);
    assert.ok(match, `the result line: ${JSON.stringify(result)}`);
    const id = match[1];
    assert.ok(await admin.locator('#compose-result').evaluate((el) => el.classList.contains('ok')));
    // The form is cleared for the next message; the result line stays.
    assert.equal(await admin.inputValue('#title'), '');
    assert.equal(await admin.locator('#action-rows fieldset').count(), 0);
    await admin.waitForTimeout(500);
    assert.equal((await admin.locator('#compose-result').textContent()).trim(), result, 'the result line stays after the list reloads');

    const status = await messageStatus(id);
    assert.equal(status.targets, 1);
    // The device's browser prefers Ukrainian: it gets that text, both buttons and the image.
    const got = await push.waitFor(1, pushes++);
    const plaintext = decryptWebPush(got.body, ua, authSecret);
    const n = JSON.parse(plaintext).notification;
    assert.equal(n.title, 'Час передати показник', plaintext);
    assert.equal(n.body, 'Передайте до 25 числа', plaintext);
    assert.equal(n.lang, 'uk', plaintext);
    assert.deepEqual(
      n.actions.map((a) => [a.action, a.title, new URL(a.navigate, origin).pathname]),
      buttons.map(([action, title, url]) => [action, title, url]),
      plaintext,
    );
    assert.match(n.image, /\/demo\/meter\.png$/, plaintext);
    assert.equal(String(n.data.messageId), id, plaintext);
    const shown = await deliverUntilShown(plaintext, 'Час передати показник');
    assert.deepEqual(shown.actions, [
      { action: 'send', title: 'Send it' },
      { action: 'later', title: 'Remind me' },
    ]);
    assert.match(shown.image, /\/demo\/meter\.png$/);
    await admin.close();
  });

  step('no script errors in the pages', () => {
    assert.deepEqual(pageErrors, []);
  });
});
