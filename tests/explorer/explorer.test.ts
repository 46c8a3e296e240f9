/**
 * The API explorer at /docs in a real browser (Debian's chromium, driven by
 * playwright-core), with every request that is not to 127.0.0.1 aborted: the
 * page, its scripts and styles and the document all come from the service.
 * Chromium is part of the test setup (scripts/ensure-chromium.sh, which `./run.sh test`
 * runs too): when it is missing and cannot be installed, every test here fails.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { createTestApp, listen, type TestApp } from '../support/app.ts';
import { documentedFetch } from '../support/contract.ts';

const ROOT = join(import.meta.dir, '..', '..');
const SCREENSHOT = join(ROOT, 'tests', 'output', 'explorer.png');
const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
const TIMEOUT = 120_000;
const CATEGORY = 'Explorer Garden';

let t: TestApp;
let server: ReturnType<typeof listen>;
let browser: Browser | undefined;
let page: Page;
const blocked: string[] = [];

/** Runs scripts/ensure-chromium.sh; the reason it gives when chromium cannot be had. */
async function ensureChromium(): Promise<string | undefined> {
  const proc = Bun.spawn(['bash', join(ROOT, 'scripts', 'ensure-chromium.sh')], { stdout: 'pipe', stderr: 'pipe' });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return code === 0 ? undefined : err.trim() || out.trim() || `ensure-chromium.sh exited with ${code}`;
}

beforeAll(async () => {
  const unavailable = await ensureChromium();
  if (unavailable) throw new Error(`the explorer tests need chromium: ${unavailable}`);
  t = await createTestApp();
  for (const [name, price] of [
    ['Rake', '14.50'],
    ['Watering Can', '9.99'],
    ['Trowel', '6.25'],
  ] as const) {
    const res = await t.post('/products', { name: `Explorer ${name}`, price, category: CATEGORY, quantity: 4 });
    expect(res.status).toBe(201);
  }
  server = listen(t.app);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.route('**', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1') return route.continue();
    blocked.push(url.href);
    return route.abort('blockedbyclient');
  });
  await page.goto(`${server.base}/docs`);
  await page.waitForSelector('.opblock', { timeout: 30_000 });
}, TIMEOUT + 60_000);

afterAll(async () => {
  await browser?.close();
  server?.stop();
  await t?.close();
});

/** Expands an operation of the explorer, by its operationId. */
async function openOperation(operationId: string): Promise<Locator> {
  const block = page.locator(`.opblock[id$="-${operationId}"]`);
  await expect(block.count()).resolves.toBe(1);
  if (!(await block.locator('.opblock-body').count())) await block.locator('.opblock-summary-control').click();
  // The explorer starts in "Try it out" mode (tryItOutEnabled); press the button if it does not.
  const tryOut = block.locator('button.try-out__btn');
  if ((await tryOut.textContent())?.trim() === 'Try it out') await tryOut.click();
  return block;
}

/** Presses Execute and returns the status code and body text the UI then shows. */
async function execute(block: Locator): Promise<{ status: string; body: string; url: string }> {
  await block.locator('button.execute').click();
  const row = block.locator('.live-responses-table tbody tr.response').first();
  await row.waitFor({ timeout: 15_000 });
  return {
    status: (await row.locator('.response-col_status').innerText()).trim(),
    body: await row.locator('.response-col_description').innerText(),
    url: await block.locator('.request-url').innerText(),
  };
}

describe('explorer at /docs', () => {
  test(
    'lists every operation of /openapi.json',
    async () => {
      const doc = (await (await documentedFetch(`${server.base}/openapi.json`)).json()) as {
        paths: Record<string, Record<string, { operationId: string }>>;
      };
      const documented = Object.entries(doc.paths)
        .flatMap(([path, item]) =>
          Object.entries(item).map(([method, op]) => `${method.toUpperCase()} ${path} ${op.operationId}`),
        )
        .sort();
      const shown = (
        await page
          .locator('.opblock')
          .evaluateAll((blocks) =>
            blocks.map((b) =>
              [
                b.querySelector('.opblock-summary-method')?.textContent,
                b.querySelector('.opblock-summary-path')?.getAttribute('data-path'),
                b.id.split('-').pop(),
              ].join(' '),
            ),
          )
      ).sort();
      expect(documented.length).toBeGreaterThan(10);
      expect(shown).toEqual(documented);
    },
    TIMEOUT,
  );

  test(
    'Try it out → Execute on POST /products creates a product: 201 in the responses',
    async () => {
      const block = await openOperation('createProduct');
      // Optional headers start empty: Execute sends no Idempotency-Key unless the user types one.
      expect(await block.locator('tr[data-param-name="idempotency-key"] input').inputValue()).toBe('');
      await block.locator('textarea.body-param__text').fill(
        JSON.stringify(
          {
            name: 'Explorer Hedge Shears',
            price: '31.00',
            sku: 'EXPLORER-SHEARS',
            category: CATEGORY,
            quantity: 2,
          },
          null,
          2,
        ),
      );
      const { status, body } = await execute(block);
      expect(status).toBe('201');
      expect(body).toContain('"sku": "EXPLORER-SHEARS"');
      const stored = await t.request('/products?sku=EXPLORER-SHEARS');
      expect((await stored.json()) as unknown[]).toHaveLength(1);
    },
    TIMEOUT,
  );

  test(
    'Try it out → Execute on GET /products lists the category: 200 with its products',
    async () => {
      const block = await openOperation('listProducts');
      // Optional filters start empty, so Execute as shown lists everything; list the whole category.
      for (const name of ['category', 'sku', 'cursor']) {
        expect(await block.locator(`tr[data-param-name="${name}"] input`).inputValue()).toBe('');
      }
      await block.locator('tr[data-param-name="category"] input').fill(CATEGORY);
      const { status, body, url } = await execute(block);
      expect(status).toBe('200');
      expect(url).toContain(`category=${encodeURIComponent(CATEGORY)}`);
      for (const name of ['Explorer Hedge Shears', 'Explorer Rake', 'Explorer Trowel', 'Explorer Watering Can']) {
        expect(body).toContain(`"name": "${name}"`);
      }
      // The picture: this operation from its summary down to the response the explorer received.
      // (boundingBox is relative to the viewport; a full-page clip is in page coordinates.)
      const scrollY = await page.evaluate(() => (globalThis as unknown as { scrollY: number }).scrollY);
      const top = (await block.boundingBox())!.y + scrollY;
      const live = (await block.locator('.live-responses-table').boundingBox())!;
      const bottom = live.y + live.height + scrollY + 16;
      mkdirSync(join(ROOT, 'tests', 'output'), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true, clip: { x: 0, y: top, width: 1280, height: bottom - top } });
    },
    TIMEOUT,
  );

  test('needed nothing but 127.0.0.1', () => {
    expect(blocked).toEqual([]);
  });
});
