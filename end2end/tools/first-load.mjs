// What the first load of a page transfers, with an empty cache: every file the browser fetches
// from /pkg (script, wasm, chunks of wasm, stylesheet), as served plain, gzip and brotli (the
// sizes of the precompressed files next to each one). Signs up an organization of its own to
// measure the Overview too.
//
//   ROSTER_URL=http://127.0.0.1:3000 ROSTER_SITE=target/site-release node end2end/tools/first-load.mjs
import { chromium } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';

const base = process.env.ROSTER_URL ?? 'http://127.0.0.1:3000';
const site = process.env.ROSTER_SITE ?? 'target/site-release';
const size = (f) => (fs.existsSync(f) ? fs.statSync(f).size : null);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu'],
});

async function measure(page, label, go) {
  const files = new Set();
  const listener = (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/pkg/')) files.add(u.pathname);
  };
  page.on('request', listener);
  await go();
  await page.waitForSelector('body[data-hydrated=true]');
  await page.waitForLoadState('networkidle');
  page.off('request', listener);
  const totals = { files: 0, plain: 0, gzip: 0, brotli: 0, wasmGzip: 0 };
  for (const p of files) {
    const f = path.join(site, p);
    totals.files += 1;
    totals.plain += size(f) ?? 0;
    const gz = size(`${f}.gz`) ?? size(f) ?? 0;
    totals.gzip += gz;
    totals.brotli += size(`${f}.br`) ?? size(f) ?? 0;
    if (p.endsWith('.wasm')) totals.wasmGzip += gz;
  }
  console.log(`${label}: ${totals.files} files from /pkg; ${totals.plain} bytes plain, ${totals.gzip} gzip (wasm ${totals.wasmGzip}), ${totals.brotli} brotli`);
}

const context = await browser.newContext();
const page = await context.newPage();
await measure(page, 'first load of /sign-in', () => page.goto(`${base}/sign-in`));

const fresh = await browser.newContext();
const admin = await fresh.newPage();
await measure(admin, 'first load of /sign-up', () => admin.goto(`${base}/sign-up`));
const stamp = `${Date.now()}`;
await admin.getByLabel('Organization name').fill(`Bundle ${stamp}`);
await admin.getByLabel('Your name').fill('Ada Lovelace');
await admin.getByLabel('Work email').fill(`ada-${stamp}@bundle.test`);
await admin.getByLabel('Password', { exact: true }).fill('correct horse battery staple 1');
await admin.getByRole('button', { name: 'Create organization' }).click();
await admin.waitForURL(/\/$/);
const cold = await browser.newContext({ storageState: await fresh.storageState() });
const overview = await cold.newPage();
await measure(overview, 'first load of the Overview, signed in', () => overview.goto(`${base}/`));
await browser.close();
