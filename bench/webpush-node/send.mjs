// Sends one payload to every subscription in a JSON file with web-push for Node, keeping 64
// requests in flight, the usual way a library loop does it. Usage: node send.mjs SUBS.json PAYLOAD
import { readFileSync } from 'node:fs';
import webpush from 'web-push';

const [subsPath, payload] = process.argv.slice(2);
const subscriptions = JSON.parse(readFileSync(subsPath, 'utf8'));
const keys = webpush.generateVAPIDKeys();
webpush.setVapidDetails('mailto:bench@example.com', keys.publicKey, keys.privateKey);

let next = 0;
let failed = 0;
async function worker() {
  while (next < subscriptions.length) {
    const sub = subscriptions[next++];
    try {
      await webpush.sendNotification(sub, payload, { TTL: 86400 });
    } catch (e) {
      failed++;
      if (failed < 5) console.error(e.statusCode ?? e.message);
    }
  }
}
await Promise.all(Array.from({ length: 64 }, worker));
if (failed) {
  console.error(`${failed} failed`);
  process.exit(1);
}
