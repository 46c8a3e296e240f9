// A complete webhook receiver: WEBHOOK_SECRET=whsec_... PORT=3000 bun examples/webhook-receiver.ts
import { Webhook } from 'standardwebhooks';

const secret = process.env.WEBHOOK_SECRET;
if (!secret) throw new Error('WEBHOOK_SECRET: the secret POST /webhooks answered with');
const webhook = new Webhook(secret);
// Delivery is at least once: a retry or a replay brings a message again, with the same webhook-id.
// (Kept in memory here; keep them where your handling writes, in the same transaction.)
const handled = new Set<string>();

Bun.serve({
  port: Number(process.env.PORT ?? 3000),
  async fetch(req) {
    if (req.method !== 'POST') return new Response(null, { status: 405 });
    const body = await req.text(); // the raw body: the signature covers it exactly as sent
    let message: any;
    try {
      // The signature (any of them, during a rotation) and a timestamp within 5 minutes.
      message = webhook.verify(body, Object.fromEntries(req.headers));
    } catch {
      return new Response('invalid signature', { status: 401 });
    }
    const id = req.headers.get('webhook-id')!;
    if (!handled.has(id)) {
      handled.add(id);
      setTimeout(() => handle(id, message)); // answer first: the sender waits at most WEBHOOK_TIMEOUT_MS
    }
    return new Response(null, { status: 204 });
  },
});

// Your work. message.data is the event as the feed shows it: id, position, type, product_id, data, occurred_at.
function handle(id: string, message: { type: string; data: { position: number } }) {
  console.log(JSON.stringify({ webhook_id: id, type: message.type, position: message.data.position }));
}
