// What the browser tests share about Web Push: decrypting what Herald sends (RFC 8291 over
// RFC 8188), checking its VAPID header (RFC 8292), a mock push service that records each push,
// and a stand-in PushManager whose subscription carries keys the test holds.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';

// ---------------------------------------------------------------- RFC 8291 / 8188

export const b64url = (buf) => Buffer.from(buf).toString('base64url');
export const fromB64url = (s) => Buffer.from(String(s).replace(/=+$/, ''), 'base64url');

function hkdf(ikm, salt, info, length) {
  return Buffer.from(crypto.hkdfSync('sha256', ikm, salt, info, length));
}

/**
 * Decrypt an aes128gcm Web Push body (RFC 8291 over RFC 8188) for the user
 * agent whose ECDH key pair is `ua` and whose auth secret is `authSecret`.
 */
export function decryptWebPush(body, ua, authSecret) {
  assert.ok(body.length >= 21 + 65 + 17, `push body too short (${body.length} bytes)`);
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20];
  assert.equal(idlen, 65, 'keyid must be the 65-byte application server public key');
  assert.ok(rs >= 18, `record size ${rs} too small`);
  const asPublic = body.subarray(21, 21 + idlen);
  const ecdhSecret = ua.computeSecret(asPublic);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0', 'latin1'), ua.getPublicKey(), asPublic]);
  const ikm = hkdf(ecdhSecret, authSecret, keyInfo, 32);
  const cek = hkdf(ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0', 'latin1'), 16);
  const baseNonce = hkdf(ikm, salt, Buffer.from('Content-Encoding: nonce\0', 'latin1'), 12);

  const parts = [];
  let offset = 21 + idlen;
  for (let seq = 0; offset < body.length; seq++) {
    const end = Math.min(offset + rs, body.length);
    const last = end === body.length;
    const record = body.subarray(offset, end);
    assert.ok(record.length > 16, 'record shorter than its tag');
    const nonce = Buffer.from(baseNonce);
    let s = seq;
    for (let i = 11; i >= 6 && s > 0; i--) {
      nonce[i] ^= s & 0xff;
      s = Math.floor(s / 256);
    }
    const decipher = crypto.createDecipheriv('aes-128-gcm', cek, nonce);
    decipher.setAuthTag(record.subarray(record.length - 16));
    const plain = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
    let i = plain.length - 1;
    while (i >= 0 && plain[i] === 0) i--;
    assert.ok(i >= 0, 'record has no padding delimiter');
    assert.equal(plain[i], last ? 2 : 1, `record ${seq}: wrong padding delimiter`);
    parts.push(plain.subarray(0, i));
    offset = end;
  }
  return Buffer.concat(parts).toString('utf8');
}

/** Check the VAPID (RFC 8292) Authorization header Herald sent. */
export function verifyVapid(headers, audience, serverKey) {
  const auth = headers.authorization || '';
  const m = /^vapid\s+(.+)$/i.exec(auth);
  assert.ok(m, `Authorization is not vapid: ${auth.slice(0, 40)}`);
  const params = Object.fromEntries(
    m[1].split(',').map((p) => {
      const at = p.indexOf('=');
      return [p.slice(0, at).trim(), p.slice(at + 1).trim()];
    }),
  );
  assert.ok(params.t && params.k, 'vapid header needs t= and k=');
  assert.equal(b64url(fromB64url(params.k)), b64url(fromB64url(serverKey)), 'k= is the key of /vapid-public-key');
  const [h64, p64, s64] = params.t.split('.');
  const header = JSON.parse(fromB64url(h64).toString('utf8'));
  const claims = JSON.parse(fromB64url(p64).toString('utf8'));
  assert.equal(header.alg, 'ES256');
  assert.equal(claims.aud, audience);
  assert.equal(claims.sub, 'mailto:test@example.com');
  const now = Math.floor(Date.now() / 1000);
  assert.ok(claims.exp > now && claims.exp <= now + 24 * 3600 + 60, `exp ${claims.exp} out of range`);
  const pub = fromB64url(params.k);
  const key = crypto.createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: b64url(pub.subarray(1, 33)), y: b64url(pub.subarray(33, 65)) },
    format: 'jwk',
  });
  const ok = crypto.verify('sha256', Buffer.from(`${h64}.${p64}`), { key, dsaEncoding: 'ieee-p1363' }, fromB64url(s64));
  assert.ok(ok, 'VAPID JWT signature does not verify');
}

// ---------------------------------------------------------------- mock push service

export function startPushService() {
  const received = [];
  let waiters = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const m = /^\/push\/(\d+)$/.exec(req.url || '');
      if (req.method !== 'POST' || !m) {
        res.writeHead(404).end();
        return;
      }
      const push = { n: Number(m[1]), headers: req.headers, body: Buffer.concat(chunks), at: Date.now() };
      received.push(push);
      res.writeHead(201, { Location: `/message/${received.length}` }).end();
      const still = [];
      for (const w of waiters) if (!w.check()) still.push(w);
      waiters = still;
    });
  });
  const svc = {
    server,
    received,
    origin: null,
    /** The index-th push (0-based) that reaches /push/<n>. */
    waitFor(n, index, timeout = 15000) {
      return new Promise((resolve, reject) => {
        const w = {
          check() {
            const hits = received.filter((p) => p.n === n);
            if (hits.length > index) {
              clearTimeout(w.timer);
              resolve(hits[index]);
              return true;
            }
            return false;
          },
        };
        if (w.check()) return;
        w.timer = setTimeout(() => {
          waiters = waiters.filter((x) => x !== w);
          reject(new Error(`no push #${index + 1} at /push/${n} within ${timeout} ms`));
        }, timeout);
        waiters.push(w);
      });
    },
  };
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      svc.origin = `http://127.0.0.1:${server.address().port}`;
      resolve(svc);
    });
  });
}

// ---------------------------------------------------------------- PushManager stand-in

/** The stand-in for the browser's push service client in every page of `context`: a
 * subscription to `endpoint` with keys the test holds, remembered per origin in localStorage. */
export async function installPushStub(context, subscription) {
  await context.addInitScript(
    ({ endpoint, p256dh, auth }) => {
      if (typeof PushManager === 'undefined') return;
      const STATE = '__heraldTestPushKey';
      const toBytes = (s) => {
        const b = s.replace(/-/g, '+').replace(/_/g, '/');
        const raw = atob(b + '='.repeat((4 - (b.length % 4)) % 4));
        return Uint8Array.from(raw, (c) => c.charCodeAt(0));
      };
      const toB64 = (buf) => {
        const bytes = ArrayBuffer.isView(buf) ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) : new Uint8Array(buf);
        return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      };
      const make = (serverKey) => ({
        endpoint,
        expirationTime: null,
        options: { userVisibleOnly: true, applicationServerKey: toBytes(serverKey).buffer },
        getKey: (name) => (name === 'p256dh' ? toBytes(p256dh).buffer : name === 'auth' ? toBytes(auth).buffer : null),
        toJSON: () => ({ endpoint, expirationTime: null, keys: { p256dh, auth } }),
        unsubscribe: async () => {
          localStorage.removeItem(STATE);
          return true;
        },
      });
      PushManager.prototype.subscribe = async function subscribe(options) {
        if (!options || !options.userVisibleOnly || !options.applicationServerKey) {
          throw new DOMException('userVisibleOnly and applicationServerKey are required', 'NotAllowedError');
        }
        const key = typeof options.applicationServerKey === 'string' ? options.applicationServerKey : toB64(options.applicationServerKey);
        localStorage.setItem(STATE, key);
        return make(key);
      };
      PushManager.prototype.getSubscription = async function getSubscription() {
        const key = localStorage.getItem(STATE);
        return key ? make(key) : null;
      };
      PushManager.prototype.permissionState = async () => 'granted';
    },
    subscription,
  );
}
