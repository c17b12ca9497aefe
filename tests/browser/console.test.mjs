// The admin console in headless Chromium, against a seeded database: every page is driven
// by keyboard and mouse, its numbers are checked against what was seeded, and screenshots
// of each page (at 1280 and 360 px) are written to target/screenshots/ (ignored by git).
//
// Seeding: 63 subscriptions on FCM, Mozilla and Apple hosts are imported with the CLI (the
// server then refuses those hosts, so they fail without a request: nothing leaves the
// machine), and 10 more are registered through the API with endpoints on a local mock push
// service that answers 201 (6 clients), 410 (2), 400 (1), or 503 once and then 201 (one
// administrator). One broadcast and 44 other messages make 45 messages.
//
//   HERALD_BIN      herald binary (default ../../target/debug/herald)
//   CHROMIUM_BIN    browser (default /usr/bin/chromium)
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { freePort, until } from './support.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const heraldBin = process.env.HERALD_BIN || path.resolve(here, '../../target/debug/herald');
const chromiumBin = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const shots = path.join(repoRoot, 'target', 'screenshots');



function keys() {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  return { p256dh: ecdh.getPublicKey().toString('base64url'), auth: crypto.randomBytes(16).toString('base64url') };
}

/** A push service that answers by the endpoint's first path segment; no decryption needed. */
function startPushService() {
  const seen = new Map();
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const kind = req.url.split('/')[1];
      const count = (seen.get(req.url) || 0) + 1;
      seen.set(req.url, count);
      const status = { ok: 201, gone: 410, bad: 400 }[kind] ?? (kind === 'flaky' && count === 1 ? 503 : 201);
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status >= 400 ? 'no' : '');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, base: `http://127.0.0.1:${server.address().port}` })));
}

describe('Herald admin console on a seeded database', () => {
  const adminToken = crypto.randomBytes(24).toString('base64url');
  const errors = [];
  const failedOutsideApi = [];
  let tmp;
  let herald;
  let heraldLog = '';
  let origin;
  let push;
  let browser;
  let context;
  let page;
  let broadcastId;

  async function heraldApi(method, pathname, body) {
    const res = await fetch(`${origin}${pathname}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: res.status, json, text };
  }

  async function shoot(name) {
    await page.evaluate(() => {
      if (document.activeElement && document.activeElement.blur) document.activeElement.blur();
      window.scrollTo(0, 0);
    });
    await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
    await page.setViewportSize({ width: 360, height: 780 });
    await page.waitForTimeout(300); // the charts redraw at the new width
    await page.screenshot({ path: path.join(shots, `${name}-360.png`), fullPage: true });
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 362, `${name} scrolls sideways at 360 px (${wide} px wide)`);
    await page.setViewportSize({ width: 1280, height: 900 });
  }

  async function go(name) {
    await page.click(`#console-nav a[data-page="${name}"]`);
    await page.locator(`#page-${name}`).waitFor({ state: 'visible' });
  }

  before(async () => {
    assert.ok(fs.existsSync(heraldBin), `herald binary not found at ${heraldBin}`);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-console-'));
    fs.mkdirSync(shots, { recursive: true });
    push = await startPushService();
    const env = {
      ...process.env,
      HERALD_DATABASE_URL: `sqlite://${path.join(tmp, 'h.db')}`,
      HERALD_ADMIN_TOKEN: adminToken,
      HERALD_OWNER_TOKEN_SECRET: crypto.randomBytes(32).toString('base64url'),
      HERALD_VAPID_SUBJECT: 'mailto:test@example.com',
      HERALD_ALLOW_PRIVATE_ENDPOINTS: 'true',
      HERALD_ALLOW_HTTP_ENDPOINTS: 'true',
      HERALD_RETRY_BASE_MS: '300',
    };
    // Subscriptions of the big push services, imported (no request is made for them).
    const lines = [];
    for (let i = 0; i < 61; i++) lines.push({ uid: `f${i}`, endpoint: `https://fcm.googleapis.com/fcm/send/s${i}`, keys: keys() });
    lines.push({ uid: 'm0', endpoint: 'https://updates.push.services.mozilla.com/wpush/v2/s0', keys: keys() });
    lines.push({ aid: 'a0', endpoint: 'https://web.push.apple.com/s0', keys: keys() });
    const file = path.join(tmp, 'subs.jsonl');
    fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n'));
    // Only serve and init create a database; the import goes into the one init made.
    execFileSync(heraldBin, ['init'], { env, cwd: tmp, stdio: 'pipe' });
    execFileSync(heraldBin, ['subscriptions', 'import', file], { env, cwd: tmp, stdio: 'pipe' });

    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    // Only the mock push service is allowed: the imported hosts fail without a request.
    herald = spawn(heraldBin, ['serve'], {
      env: { ...env, HERALD_LISTEN: `127.0.0.1:${port}`, HERALD_PUSH_HOST_ALLOWLIST: '127.0.0.1' },
      cwd: tmp,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    herald.stdout.on('data', (c) => (heraldLog = (heraldLog + c).slice(-100000)));
    herald.stderr.on('data', (c) => (heraldLog = (heraldLog + c).slice(-100000)));
    await until('herald /healthz', async () => (await fetch(`${origin}/healthz`).catch(() => null))?.status === 200);

    const register = async (owner, kind, n) => {
      const r = await heraldApi('POST', '/api/v1/subscriptions', { ...owner, subscription: { endpoint: `${push.base}/${kind}/${n}`, keys: keys() } });
      assert.equal(r.status, 201, r.text);
    };
    for (let i = 1; i <= 6; i++) await register({ uid: String(i) }, 'ok', i);
    for (let i = 7; i <= 8; i++) await register({ uid: String(i) }, 'gone', i);
    await register({ uid: '9' }, 'bad', 9);
    await register({ aid: '1' }, 'flaky', 1);

    const sent = await heraldApi('POST', '/api/v1/messages', { to: { all: 'everyone' }, title: 'Broadcast' });
    assert.equal(sent.status, 202, sent.text);
    broadcastId = sent.json.id;
    await until('the broadcast to settle', async () => (await heraldApi('GET', `/api/v1/messages/${broadcastId}`)).json.pending === 0);
    for (let i = 1; i <= 44; i++) {
      const r = await heraldApi('POST', '/api/v1/messages', { to: { uid: 'nobody' }, title: `Notice ${i}` });
      assert.equal(r.status, 202, r.text);
    }

    browser = await chromium.launch({ executablePath: chromiumBin, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'Europe/Kyiv' });
    page = await context.newPage();
    page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
    // Refusals (422 while a form is invalid) are the console's to show; server errors and
    // CSP violations are not.
    page.on('console', (msg) => {
      if (/Failed to load resource: the server responded with a status of 4\d\d/.test(msg.text())) return;
      if (msg.type() === 'error' || /Content Security Policy/i.test(msg.text())) errors.push(`console: ${msg.text()}`);
    });
    page.on('response', (res) => {
      if (res.status() >= 500) errors.push(`${res.status()} from ${res.url()}`);
      else if (res.status() >= 400 && !new URL(res.url()).pathname.startsWith('/api/')) failedOutsideApi.push(`${res.status()} from ${res.url()}`);
    });
    await page.goto(`${origin}/admin/`);
    await page.fill('#token', adminToken);
    await page.keyboard.press('Enter');
    await page.locator('#page-overview').waitFor({ state: 'visible' });
  });

  after(async () => {
    if (browser) await browser.close();
    if (herald) herald.kill('SIGTERM');
    if (push) push.server.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('overview: the charts show the seeded numbers', async () => {
    const overview = (await heraldApi('GET', '/api/v1/overview')).json;
    assert.deepEqual(overview.lastHour, { accepted: 7, retried: 1, failed: 1, gone: 2 });
    const tile = (key) => page.locator(`.tile[data-key="${key}"]`).textContent();
    await until('the overview tiles', async () => /11/.test(await tile('last-hour')));
    assert.match(await tile('last-hour'), /7 accepted · 1 retried · 1 failed · 2 gone/);
    // 73 registered, 2 pruned as gone.
    assert.match(await tile('subscriptions'), /^Subscriptions71 ?69 clients · 2 administrators/);
    assert.match(await tile('queue'), /Queue now0/);
    const services = await page.locator('#chart-services').textContent();
    assert.match(services, /FCM \(Google\)61 \(61 clients, 0 administrators\)/);
    assert.match(services, /Mozilla1 \(1 clients, 0 administrators\)/);
    assert.match(services, /Apple1 \(0 clients, 1 administrators\)/);
    assert.match(services, /Other8 \(7 clients, 1 administrators\)/);
    // Every push in the charts, by outcome and by service; new and pruned per day.
    const total = (id) => page.locator(`#${id} figure`).getAttribute('data-total');
    assert.equal(await total('chart-minutes'), '11');
    assert.equal(await total('chart-hours'), '11');
    assert.equal(await total('chart-days'), String(73 + 2));
    // Keyboard: focus the per-hour chart; the readout names the current hour's numbers.
    await page.focus('#chart-hours svg.chart-svg');
    await page.keyboard.press('End');
    assert.match(await page.locator('#chart-hours .readout').textContent(), /Accepted 7, Retried 1, Failed 1, Gone 2 \(total 11 pushes\)/);
    await page.keyboard.press('ArrowLeft');
    assert.match(await page.locator('#chart-hours .readout').textContent(), /Accepted 0, Retried 0, Failed 0, Gone 0/);
    // Hover: the pointer over the last day's bar.
    await page.locator('#chart-days svg.chart-svg').scrollIntoViewIfNeeded();
    const box = await page.locator('#chart-days svg.chart-svg').boundingBox();
    await page.mouse.move(box.x + box.width * 0.97, box.y + box.height / 2);
    assert.match(await page.locator('#chart-days .readout').textContent(), /New 73, Pruned \(below the line\) 2/);
    // By push service: the same pushes, all to the mock ("Other").
    await page.selectOption('#pushes-by', 'service');
    assert.equal(await total('chart-minutes'), '11');
    await page.focus('#chart-hours svg.chart-svg');
    await page.keyboard.press('End');
    assert.match(await page.locator('#chart-hours .readout').textContent(), /FCM \(Google\) 0, .*Other 11/);
    await page.selectOption('#pushes-by', 'outcome');
    await shoot('console-overview');
  });

  it('messages: keyset paging reaches message 45 of 45; filters; a message page', async () => {
    await go('messages');
    await until('the first page', async () => /Messages 1–20; older ones follow/.test(await page.locator('#messages-range').textContent()));
    await page.click('#messages-next');
    await until('the second page', async () => /Messages 21–40/.test(await page.locator('#messages-range').textContent()));
    await page.focus('#messages-next');
    await page.keyboard.press('Enter');
    await until('the last page', async () => /Messages 41–45; end of list/.test(await page.locator('#messages-range').textContent()));
    const numbers = await page.locator('#messages-body td[data-label="#"]').allTextContents();
    assert.deepEqual(numbers, ['41', '42', '43', '44', '45']);
    assert.ok(await page.locator('#messages-next').isDisabled());
    assert.match(await page.locator('#messages-body').textContent(), /Broadcast/);
    await page.click('#messages-prev');
    await until('back to the second page', async () => /Messages 21–40/.test(await page.locator('#messages-range').textContent()));

    // Filters: title text and status.
    await page.fill('#mf-title', 'broad');
    await page.click('#messages-filter button[type="submit"]');
    await until('the filtered list', async () => (await page.locator('#messages-body tr').count()) === 1);
    await page.fill('#mf-title', '');
    await page.selectOption('#mf-status', 'scheduled');
    await page.click('#messages-filter button[type="submit"]');
    await until('no scheduled messages', async () => /No messages/.test(await page.locator('#messages-body').textContent()));
    await page.selectOption('#mf-status', '');
    await page.click('#messages-filter button[type="submit"]');
    await until('all again', async () => /Messages 1–20/.test(await page.locator('#messages-range').textContent()));

    // The broadcast's page: funnel, breakdown by push service, failures by last HTTP status.
    await page.fill('#mf-title', 'Broadcast');
    await page.click('#messages-filter button[type="submit"]');
    await page.getByRole('button', { name: 'Details of message Broadcast' }).click();
    await until('the breakdown', async () => /Other/.test(await page.locator('#detail-services').textContent()));
    const funnel = await page.locator('#detail-funnel').textContent();
    for (const step of ['Targets73', 'Accepted7', 'Displayed0', 'Clicked0']) assert.ok(funnel.includes(step), `${step} in ${funnel}`);
    const byService = await page.locator('#detail-services').textContent();
    assert.match(byService, /FCM \(Google\)0610/);
    assert.match(byService, /Other712/);
    const failures = await page.locator('#detail-failures').textContent();
    assert.match(failures, /Otherfailed4001/);
    assert.match(failures, /Othergone4102/);
    assert.match(failures, /FCM \(Google\)failednone \(not sent\)61/);
    assert.ok(await page.locator('#detail-cancel').isHidden());
    await shoot('console-messages');
  });

  it('reminders: create one that fires, preview, edit, pause and delete', async () => {
    await go('reminders');
    // A daily reminder in Kyiv: five firings at 09:00 local, shown in its zone.
    await page.fill('#r-to-id', '2');
    await page.fill('#r-title', 'Standup');
    await page.selectOption('#r-kind', 'daily');
    await page.fill('#r-time', '09:00');
    await page.fill('#r-zone', 'Europe/Kyiv');
    await until('the preview', async () => (await page.locator('#r-preview li time').count()) === 5);
    for (const text of await page.locator('#r-preview li').allTextContents()) assert.match(text, /09:00 Europe\/Kyiv \(UTC\+0[23]:00\)/);
    await page.click('#r-save');
    await until('the reminder listed', async () => /Standup/.test(await page.locator('#reminders-body').textContent()));
    assert.match(await page.locator('#reminders-body').textContent(), /daily at 09:00.*09:00 Europe\/Kyiv/);
    // Validation comes from the API.
    await page.fill('#r-to-id', '2');
    await page.fill('#r-title', 'Broken');
    await page.selectOption('#r-kind', 'cron');
    await page.fill('#r-cron', '61 * * * *');
    await page.click('#r-save');
    await until('the refusal', async () => /Not saved: .*cron/.test(await page.locator('#r-result').textContent()));
    await page.click('#r-reset');

    // Pause, resume, edit.
    await page.getByRole('button', { name: 'Pause Standup' }).click();
    await until('paused', async () => /paused/.test(await page.locator('#reminders-body').textContent()));
    await page.getByRole('button', { name: 'Resume Standup' }).click();
    await until('active', async () => /active/.test(await page.locator('#reminders-body').textContent()));
    await page.getByRole('button', { name: 'Edit Standup' }).click();
    assert.equal(await page.inputValue('#r-zone'), 'Europe/Kyiv');
    await page.fill('#r-title', 'Standup moved');
    await page.fill('#r-time', '10:30');
    await page.click('#r-save');
    await until('the edit saved', async () => /Standup moved.*daily at 10:30/.test(await page.locator('#reminders-body').textContent()));

    // A one-off a few seconds from now, in UTC: it fires and its message is delivered.
    const at = new Date(Date.now() + 4000).toISOString().slice(0, 19);
    await page.fill('#r-to-id', '1');
    await page.fill('#r-title', 'Console reminder');
    await page.selectOption('#r-kind', 'at');
    await page.fill('#r-at', at);
    await page.fill('#r-zone', 'UTC');
    await until('its preview', async () => (await page.locator('#r-preview li time').count()) === 1);
    await page.click('#r-save');
    await until('saved', async () => /Saved "\u2068?Console reminder\u2069?"/.test(await page.locator('#r-result').textContent()));
    const fired = await until(
      'the reminder to fire',
      async () => {
        const list = (await heraldApi('GET', '/api/v1/reminders')).json.reminders;
        const r = list.find((x) => x.title === 'Console reminder');
        return r && r.fired === 1 && r.lastMessageId ? r : null;
      },
      { timeout: 30000 },
    );
    await until('its message delivered', async () => (await heraldApi('GET', `/api/v1/messages/${fired.lastMessageId}`)).json.accepted === 1);
    await page.click('#reminders-refresh');
    await until('shown as done', async () => /Console reminder.*once.*done1/.test(await page.locator('#reminders-body').textContent()));
    await shoot('console-reminders');

    page.once('dialog', (d) => d.accept());
    await page.getByRole('button', { name: 'Delete Console reminder' }).click();
    await until('deleted', async () => !/Console reminder/.test(await page.locator('#reminders-body').textContent()));
  });

  it('subscriptions: keyset paging, search by owner, delete one', async () => {
    await go('subscriptions');
    await until('the first page', async () => /1–50 of 71/.test(await page.locator('#subscriptions-range').textContent()));
    await page.click('#subscriptions-next');
    await until('the second page', async () => /51–71 of 71/.test(await page.locator('#subscriptions-range').textContent()));
    assert.ok(await page.locator('#subscriptions-next').isDisabled());
    await page.click('#subscriptions-prev');
    await until('back', async () => /1–50 of 71/.test(await page.locator('#subscriptions-range').textContent()));
    await page.selectOption('#filter-kind', 'uid');
    await page.fill('#filter-id', '3');
    await page.keyboard.press('Enter');
    await until('one owner', async () => /1–1 of 1/.test(await page.locator('#subscriptions-range').textContent()));
    assert.match(await page.locator('#subscriptions-body').textContent(), /uid 3Other/);
    await shoot('console-subscriptions');
    page.once('dialog', (d) => d.accept());
    await page.locator('#subscriptions-body button', { hasText: 'Delete' }).click();
    await until('deleted', async () => /0 of 0/.test(await page.locator('#subscriptions-range').textContent()));
    assert.equal((await heraldApi('GET', '/api/v1/subscriptions?uid=3')).json.total, 0);
  });

  it('stored hostile text stays text; a 256-letter title wraps at 360 px', async () => {
    const hostile = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';
    for (const m of [
      { to: { uid: 'nobody' }, title: `${hostile}\u202Eevil`, body: hostile, url: 'https://example.com/"><svg onload="window.__xss=3">' },
      { to: { uid: 'nobody' }, title: 'W'.repeat(256), body: 'B'.repeat(1000), url: `https://example.com/${'p'.repeat(1500)}`, mode: 'tickle' },
    ]) {
      const r = await heraldApi('POST', '/api/v1/messages', m);
      assert.equal(r.status, 202, r.text);
    }
    const r = await heraldApi('POST', '/api/v1/reminders', { to: { uid: hostile }, title: hostile, body: hostile, schedule: { daily: '09:00' }, timezone: 'UTC' });
    assert.equal(r.status, 201, r.text);

    await go('messages');
    await page.fill('#mf-title', '');
    await page.click('#messages-filter button[type="submit"]');
    await until('the hostile titles listed', async () => (await page.locator('#messages-body').textContent()).includes(hostile));
    await page.locator('#messages-body button.link-button').first().click();
    await until('the long message opened', async () => (await page.locator('#detail-title').textContent()).includes('W'.repeat(256)));
    // The title column keeps room for ordinary titles next to a 256-letter one.
    const titleWidth = await page.locator('#messages-body tr:nth-child(2) th').evaluate((el) => el.getBoundingClientRect().width);
    assert.ok(titleWidth >= 140, `the title column is ${titleWidth} px wide`);
    await shoot('console-hostile'); // asserts no sideways scrolling at 360 px
    await go('reminders');
    await page.click('#reminders-refresh');
    await until('the hostile reminder listed', async () => (await page.locator('#reminders-body').textContent()).includes(hostile));
    assert.equal(await page.locator('#console img, #console script:not([src]), #console svg[onload]').count(), 0);
    assert.equal(await page.evaluate(() => window.__xss), undefined);
  });

  it('keyboard: the skip link stays on the page; the refresh every 15 s keeps the focus on the focused row', async () => {
    await go('messages');
    // The skip link moves into the page shown; it does not switch to another page.
    await page.focus('.skip-link');
    await page.keyboard.press('Enter');
    assert.ok(await page.locator('#page-messages').isVisible(), 'the skip link left the messages page');
    assert.equal(await page.evaluate(() => document.activeElement.closest('.page')?.id), 'page-messages');
    const button = page.locator('#messages-body button.link-button').nth(2);
    await button.focus();
    const label = await button.getAttribute('aria-label');
    // The quiet refresh redraws the list (the next GET /messages the timer sends).
    await page.waitForResponse((res) => res.url().includes('/api/v1/messages?'), { timeout: 20000 });
    await page.waitForTimeout(300);
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), label);
  });

  it('a read-only API key signs in, reads, and is told what it may not do', async () => {
    const created = async (scopes) => {
      const k = await heraldApi('POST', '/api/v1/keys', { name: `console ${scopes}`, scopes: [scopes] });
      assert.equal(k.status, 201, k.text);
      return k.json.key;
    };
    const readKey = await created('read');
    const sendKey = await created('send');
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const p = await ctx.newPage();
    p.on('pageerror', (err) => errors.push(`pageerror (read key): ${err.message}`));
    p.on('response', (res) => {
      if (res.status() >= 500) errors.push(`${res.status()} from ${res.url()}`);
    });
    try {
      await p.goto(`${origin}/admin/`);
      // A key without `read` cannot use the console, and is told why (it is not a bad token).
      await p.fill('#token', sendKey);
      await p.keyboard.press('Enter');
      await until('the refusal', async () => /cannot use the console: .*`read` scope/.test(await p.locator('#login-result').textContent()));
      assert.ok(await p.locator('#console').isHidden());

      await p.fill('#token', readKey);
      await p.keyboard.press('Enter');
      await p.locator('#page-overview').waitFor({ state: 'visible' });
      await until('the overview', async () => /Subscriptions\d/.test(await p.locator('.tile[data-key="subscriptions"]').textContent()));
      await p.click('#console-nav a[data-page="messages"]');
      await until('the messages', async () => /Messages 1–20/.test(await p.locator('#messages-range').textContent()));
      await p.fill('#to-id', '1');
      await p.fill('#title', 'From a read key');
      await p.click('#send-button');
      await until('the send refused', async () => /Not sent: .*`send` scope/.test(await p.locator('#compose-result').textContent()));
      await p.click('#console-nav a[data-page="subscriptions"]');
      await until('the list refused', async () => /Could not load subscriptions: .*`admin` scope/.test(await p.locator('#subscriptions-status').textContent()));
      // Still signed in: a 403 is not a bad token.
      assert.ok(await p.locator('#console').isVisible());
    } finally {
      await ctx.close();
    }
  });

  it('no request of the console fails but the refusals the tests provoke', () => {
    // Every 4xx the tests provoke comes from the API (a refused form, a key without a scope).
    assert.deepEqual(failedOutsideApi, []);
  });

  it('no script errors or CSP violations', () => {
    assert.deepEqual(errors, [], heraldLog.slice(-3000));
  });
});
