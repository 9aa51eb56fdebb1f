import type { APIRequestContext, Page } from '@playwright/test';
import { test, expect, waitForHydration, signUp, signUpVerified, seriousA11yProblems } from './fixtures';
import { serverCli } from './cli';

const base = BigInt(Date.now()) * 1000n;
const id = (n: number) => String(base + BigInt(n));

/** A connector with a Source channel, set up the way an operator would (CLI + collector API).
 *  Each test passes its own `offset`: a guild belongs to the connector that reported it first. */
async function sourceChannel(request: APIRequestContext, project: string, offset = 0) {
  const out = serverCli(project, ['connector', 'create', '--name', `dash-${Date.now()}`]);
  const token = out.match(/token \(shown once, store it now\): (\S+)/)![1];
  const headers = { authorization: `Bearer ${token}` };
  const guild = id(1 + offset);
  const channel = id(2 + offset);
  expect((await request.put('/api/v1/discovery/guilds', { headers, data: { guilds: [{ id: guild, name: 'Alpha' }] } })).status()).toBe(200);
  expect((await request.put(`/api/v1/discovery/guilds/${guild}/channels`, { headers, data: { channels: [{ id: channel, name: 'signals', type: 0 }] } })).status()).toBe(200);
  serverCli(project, ['channel', 'source', '--id', channel]);
  const post = async (data: object) => {
    const res = await request.post('/api/v1/events', { headers, data: { guild_id: guild, channel_id: channel, ...data } });
    expect(res.status()).toBe(200);
    return res.json();
  };
  return { post };
}

/** A new customer with 30 days of pro, signed in on `page`. */
async function payingCustomer(page: Page, project: string, label: string) {
  const email = `${label}-${project}-${Date.now()}@example.com`;
  await signUpVerified(page, email);
  serverCli(project, ['access', 'grant', '--email', email, '--tier', 'pro', '--days', '30', '--reason', 'e2e']);
  return email;
}

/** The dashboard, hydrated and following the live feed. */
async function openLiveDashboard(page: Page) {
  await page.goto('/dashboard');
  await waitForHydration(page);
  await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
}

const author = { id: id(50), name: 'Head Trader' };
/** A file on the fake Discord's CDN (serve.sh starts it on port + 30 and allows it as the attachment source). */
const cdn = (baseURL: string, name: string) =>
  `http://127.0.0.1:${Number(new URL(baseURL).port) + 30}/attachments/${id(2)}/${id(3)}/${name}`;
/** One file of each kind the attachment rules tell apart: an image shown inline, a PDF offered as a
 *  link, an executable blocked; their ids start at `first`. */
const threeFiles = (baseURL: string, first: number) => [
  { id: id(first), filename: 'chart.png', url: cdn(baseURL, 'chart.png'), content_type: 'image/png', size: 2048, width: 640, height: 360 },
  { id: id(first + 1), filename: 'report.pdf', url: cdn(baseURL, 'report.pdf'), content_type: 'application/pdf', size: 50000 },
  { id: id(first + 2), filename: 'tool.exe', url: cdn(baseURL, 'tool.exe'), content_type: 'application/octet-stream', size: 9000 },
];

test('a customer with access sees signals arrive, change and disappear live', async ({ page, request, baseURL }, info) => {
  const email = `dash-${info.project.name}-${Date.now()}@example.com`;
  await signUpVerified(page, email);
  serverCli(info.project.name, ['access', 'grant', '--email', email, '--tier', 'pro', '--days', '30', '--reason', 'e2e']);
  const source = await sourceChannel(request, info.project.name);

  await page.goto('/dashboard');
  await waitForHydration(page);
  await expect(page.getByTestId('access-tier')).toHaveText('Pro');
  await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');

  const message = id(100);
  const created = new Date().toISOString();
  await source.post({ type: 'message_create', message_id: message, author, content: 'BTC long 91,000', created_at: created });
  const card = page.getByTestId('signal').filter({ hasText: 'Head Trader' }).first();
  await expect(card.getByTestId('content')).toHaveText('BTC long 91,000');

  await source.post({ type: 'message_update', message_id: message, author, content: 'BTC long 90,500 (entry moved)', created_at: created, edited_at: new Date().toISOString() });
  await expect(card.getByTestId('content')).toHaveText('BTC long 90,500 (entry moved)');
  await expect(card.getByTestId('edited')).toBeVisible();

  await source.post({ type: 'message_delete', message_id: message });
  await expect(card.getByTestId('deleted')).toBeVisible();
  await expect(card.getByTestId('content')).toHaveCount(0);

  // Attachments: fetched once into our store, then a small PNG inline from our origin with its size
  // reserved, a PDF as a safe link to our copy, an executable blocked (never fetched, no link).
  await source.post({
    type: 'message_create', message_id: id(101), author, content: 'files', created_at: new Date().toISOString(),
    attachments: threeFiles(baseURL!, 201),
  });
  const files = page.getByTestId('signal').filter({ hasText: 'files' }).first();
  await expect(files.getByTestId('attachment-inline')).toHaveAttribute('width', '640');
  await expect(files.getByTestId('attachment-inline')).toHaveAttribute('height', '360');
  await expect(files.getByTestId('attachment-inline')).toHaveAttribute('src', /^\/attachments\/\d+\/\d+$/);
  await expect.poll(() => files.getByTestId('attachment-inline').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(1);
  await expect(files.getByTestId('attachment-link')).toHaveAttribute('href', /^\/attachments\//);
  await expect(files.getByTestId('attachment-link')).toHaveAttribute('rel', 'noopener noreferrer');
  await expect(files.getByTestId('attachment-link')).toContainText('report.pdf (application/pdf, 48 KB)');
  await expect(files.getByTestId('attachment-blocked')).toContainText('tool.exe');
  await expect(files.locator('a[href*="tool.exe"]')).toHaveCount(0);

  // Readable before the wasm loads: the server-rendered page already lists them.
  const plain = await request.get('/dashboard', { headers: { cookie: (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ') } });
  expect(await plain.text()).toContain('files');
});

test('a customer without access sees the plans', async ({ page }, info) => {
  await signUp(page, `noplan-${info.project.name}-${Date.now()}@example.com`);
  await page.goto('/dashboard');
  await expect(page.getByTestId('no-access')).toBeVisible();
  await expect(page.getByTestId('plans').locator('li')).not.toHaveCount(0);
});

test('signal text renders as Discord shows it, live and before the wasm, and nothing in it runs', async ({ page, request, browser, baseURL }, info) => {
  const email = `md-${info.project.name}-${Date.now()}@example.com`;
  await signUpVerified(page, email);
  serverCli(info.project.name, ['access', 'grant', '--email', email, '--tier', 'pro', '--days', '30', '--reason', 'e2e']);
  const source = await sourceChannel(request, info.project.name, 1000);
  const dialogs: string[] = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });

  await page.goto('/dashboard');
  await waitForHydration(page);
  await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
  const content = [
    '**ETH** long <@123> ~~3,000~~',
    '> entry 3,100',
    '[chart](https://example.com/c) [bad](javascript:alert(1)) <script>alert(1)</script> <img src=x onerror=alert(1)>',
  ].join('\n');
  const mentions = { users: [{ id: '123', name: 'alice' }] };
  await source.post({ type: 'message_create', message_id: id(300), author, content, mentions, created_at: new Date().toISOString() });

  // The same renderer live (hydrated, from the feed) and from the server (JavaScript off).
  const check = async (body: ReturnType<typeof page.getByTestId>) => {
    await expect(body.locator('strong')).toHaveText('ETH');
    await expect(body.locator('s')).toHaveText('3,000');
    await expect(body.locator('blockquote')).toHaveText('entry 3,100');
    await expect(body.locator('.mention')).toHaveText('@alice');
    const link = body.locator('a');
    await expect(link).toHaveCount(1);
    await expect(link).toHaveText('chart');
    await expect(link).toHaveAttribute('href', 'https://example.com/c');
    await expect(link).toHaveAttribute('rel', 'noopener noreferrer nofollow');
    await expect(body.locator('script, img')).toHaveCount(0);
    await expect(body).toContainText('[bad](javascript:alert(1)) <script>alert(1)</script> <img src=x onerror=alert(1)>');
  };
  await check(page.getByTestId('signal').filter({ hasText: 'chart' }).first().getByTestId('content'));

  const noJs = await browser.newContext({ javaScriptEnabled: false, baseURL });
  await noJs.addCookies(await page.context().cookies());
  const still = await noJs.newPage();
  await still.goto('/dashboard');
  await check(still.getByTestId('signal').filter({ hasText: 'chart' }).first().getByTestId('content'));
  await noJs.close();
  expect(dialogs).toEqual([]);
});

test('an embed-only signal shows its fields, live and before the wasm', async ({ page, request, browser, baseURL }, info) => {
  await payingCustomer(page, info.project.name, 'embed');
  const source = await sourceChannel(request, info.project.name, 2000);
  await openLiveDashboard(page);
  const embeds = [{
    title: 'SOL/USDT LONG', url: 'https://example.com/sol', color: 0x2ecc71,
    description: 'Entry **142.5**', footer: { text: 'Signal bot' }, timestamp: '2026-11-30T12:00:00Z',
    fields: [
      { name: 'TP1', value: '150', inline: true },
      { name: 'TP2', value: '160', inline: true },
      { name: 'Stop loss', value: '135', inline: false },
    ],
  }];
  await source.post({ type: 'message_create', message_id: id(2300), author, content: '', embeds, created_at: new Date().toISOString() });

  const check = async (card: ReturnType<typeof page.getByTestId>) => {
    const embed = card.getByTestId('embed');
    await expect(embed).toHaveCount(1);
    await expect(embed.locator('.embed-title a')).toHaveText('SOL/USDT LONG');
    await expect(embed.locator('.embed-title a')).toHaveAttribute('href', 'https://example.com/sol');
    await expect(embed.locator('.embed-description strong')).toHaveText('142.5');
    const fields = embed.getByTestId('embed-field');
    await expect(fields).toHaveCount(3);
    await expect(fields.nth(0)).toHaveText(/TP1\s*150/);
    await expect(fields.nth(2)).toHaveText(/Stop loss\s*135/);
    await expect(fields.nth(0)).toHaveClass(/inline/);
    await expect(fields.nth(2)).not.toHaveClass(/inline/);
    await expect(embed.locator('.embed-bar rect')).toHaveAttribute('fill', '#2ecc71');
    await expect(embed.locator('.embed-footer')).toContainText('Signal bot');
  };
  await check(page.getByTestId('signal').filter({ hasText: 'SOL/USDT LONG' }).first());

  const noJs = await browser.newContext({ javaScriptEnabled: false, baseURL });
  await noJs.addCookies(await page.context().cookies());
  const still = await noJs.newPage();
  await still.goto('/dashboard');
  await check(still.getByTestId('signal').filter({ hasText: 'SOL/USDT LONG' }).first());
  await noJs.close();
});

test('search finds a week-old signal, and its URL reloads to the same results without JavaScript', async ({ page, request, browser, baseURL }, info) => {
  await payingCustomer(page, info.project.name, 'search');
  const source = await sourceChannel(request, info.project.name, 3000);
  const weekAgo = new Date(Date.now() - 7 * 24 * 3600 * 1000).toISOString();
  const marker = `wk${Date.now()}`;
  await source.post({ type: 'message_create', message_id: id(3300), author, content: `AVAX/USDT LONG\nEntry 38.40\nTP1 40.10\nSL 36.90\n${marker}`, created_at: weekAgo });
  await source.post({ type: 'message_create', message_id: id(3301), author, content: `AVAX/USDT SHORT entry 41 sl 42 ${marker}`, created_at: new Date().toISOString() });

  await page.goto('/dashboard');
  await waitForHydration(page);
  await page.getByTestId('search-q').fill(marker);
  await page.getByTestId('search-side').selectOption('long');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page).toHaveURL(new RegExp(`q=${marker}.*side=long`));
  const results = page.getByTestId('signal');
  await expect(results).toHaveCount(1);
  await expect(results.first().getByTestId('trade-pair')).toHaveText('AVAX/USDT');
  await expect(results.first().getByTestId('trade-stop')).toContainText('36.90');
  const shared = page.url();

  const noJs = await browser.newContext({ javaScriptEnabled: false, baseURL });
  await noJs.addCookies(await page.context().cookies());
  const still = await noJs.newPage();
  await still.goto(shared);
  await expect(still.getByTestId('signal')).toHaveCount(1);
  await expect(still.getByTestId('signal').first()).toContainText(marker);
  await expect(still.getByTestId('search-q')).toHaveValue(marker);
  await noJs.close();
});

test('one header on every customer page: where you are, the feed state, signing out', async ({ page }, info) => {
  await payingCustomer(page, info.project.name, 'nav');
  await openLiveDashboard(page);
  const nav = page.getByTestId('desk-nav');
  await expect(nav.getByRole('link', { name: 'Dashboard' })).toHaveAttribute('aria-current', 'page');
  await expect(nav.getByTestId('live-state')).toHaveText('Live');
  await nav.getByRole('link', { name: 'Account' }).click();
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.getByTestId('desk-nav').getByRole('link', { name: 'Account' })).toHaveAttribute('aria-current', 'page');
  await waitForHydration(page);
  await page.getByTestId('nav-sign-out').click();
  await expect(page).toHaveURL(/\/$/);
  await page.goto('/dashboard');
  await expect(page).toHaveURL(/\/login/);
});

test('a signal arriving while the tab is hidden notifies, counts in the title and is marked new', async ({ page, request, context }, info) => {
  await context.grantPermissions(['notifications']);
  // Records each notification the page shows (the real one is still made).
  await page.addInitScript(() => {
    const Real = window.Notification;
    const shown: { title: string; body?: string }[] = [];
    (window as any).__shown = shown;
    const Spy = function (title: string, options?: NotificationOptions) {
      shown.push({ title, body: options?.body });
      return new Real(title, options);
    } as any;
    Object.defineProperty(Spy, 'permission', { get: () => Real.permission });
    Spy.requestPermission = Real.requestPermission.bind(Real);
    (window as any).Notification = Spy;
  });
  await payingCustomer(page, info.project.name, 'alerts');
  const source = await sourceChannel(request, info.project.name, 4000);
  await openLiveDashboard(page);
  await page.getByTestId('alerts').locator('summary').click();
  await page.getByTestId('alerts-notify').click();
  await expect(page.getByTestId('alerts-notify')).toHaveAttribute('aria-pressed', 'true');
  const title = await page.title();

  // The tab goes to the background.
  await page.evaluate(() => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await source.post({ type: 'message_create', message_id: id(4300), author, content: 'ETH/USDT LONG entry 3,100 alertme', created_at: new Date().toISOString() });
  await expect.poll(() => page.evaluate(() => (window as any).__shown.length)).toBe(1);
  const shown = await page.evaluate(() => (window as any).__shown[0]);
  expect(shown.title).toContain('#signals');
  expect(shown.body).toContain('alertme');
  await expect(page).toHaveTitle(`(1) ${title}`);
  await expect(page.getByTestId('signal').filter({ hasText: 'alertme' }).getByTestId('new-since')).toBeVisible();

  // Back in front: the count goes; the mark stays until the tab is left again.
  await page.evaluate(() => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await expect(page).toHaveTitle(title);
  // The choice is kept with the account.
  await page.reload();
  await waitForHydration(page);
  await expect(page.getByTestId('alerts-notify')).toHaveAttribute('aria-pressed', 'true');
});

test('every kind of card is accessible, shows its author\'s picture, and the desk works from the keyboard', async ({ page, request, baseURL }, info) => {
  await payingCustomer(page, info.project.name, 'a11y');
  const source = await sourceChannel(request, info.project.name, 5000);
  const pictured = { id: id(5050), name: 'Chart Wizard', avatar: '0123456789abcdef0123456789abcdef' };
  const now = () => new Date().toISOString();
  const marker = `kb${Date.now()}`;
  await source.post({
    type: 'message_create', message_id: id(5300), author: pictured, created_at: now(),
    content: `**BTC/USDT LONG** ${marker}\nEntry 64,000\nTP1 65,200\nSL 62,900\n> risk 1%\n||spoiler|| \`code\` <@${id(5050)}> https://example.com`,
    mentions: { users: [{ id: id(5050), name: 'Chart Wizard' }] },
  });
  await source.post({
    type: 'message_update', message_id: id(5300), author: pictured, created_at: now(), edited_at: now(),
    content: `**BTC/USDT LONG** ${marker}\nEntry 64,000\nTP1 65,200\nSL 63,100\n> risk 1%`,
  });
  await source.post({
    type: 'message_create', message_id: id(5301), author, content: '', created_at: now(),
    embeds: [{ title: 'SOL/USDT LONG', url: 'https://example.com/sol', color: 0x2ecc71, description: 'Entry **142.5**',
      author: { name: 'Signal Bot' }, footer: { text: 'Signal bot' }, timestamp: '2026-11-30T12:00:00Z',
      fields: [{ name: 'TP1', value: '150', inline: true }, { name: 'Stop loss', value: '135', inline: false }] }],
  });
  await source.post({
    type: 'message_create', message_id: id(5302), author, content: 'files a11y', created_at: now(),
    attachments: threeFiles(baseURL!, 5201),
  });
  await source.post({ type: 'message_create', message_id: id(5303), author, content: 'gone soon', created_at: now() });
  await source.post({ type: 'message_delete', message_id: id(5303) });

  await openLiveDashboard(page);
  const card = page.getByTestId('signal').filter({ hasText: 'Chart Wizard' }).first();
  // The author's picture: Discord's CDN, built from the checked hash; decorative (the name says who).
  await expect(card.getByTestId('avatar')).toHaveAttribute('src', `https://cdn.discordapp.com/avatars/${id(5050)}/0123456789abcdef0123456789abcdef.png?size=64`);
  await expect(card.getByTestId('avatar')).toHaveAttribute('alt', '');
  await expect(page.getByTestId('signal').filter({ hasText: 'files a11y' }).getByTestId('avatar'))
    .toHaveAttribute('src', /^https:\/\/cdn\.discordapp\.com\/embed\/avatars\/[0-5]\.png$/);
  await expect(card.getByTestId('level-change')).toHaveText('SL 62,900 → 63,100');

  // axe-core over the live feed, then with the alerts panel and an edit history open, then an empty search.
  const problems = await seriousA11yProblems(page);
  await page.getByTestId('alerts').locator('summary').click();
  await card.locator('.history summary').click();
  problems.push(...(await seriousA11yProblems(page)));
  await page.goto('/dashboard?q=nothingmatchesthis');
  await waitForHydration(page);
  problems.push(...(await seriousA11yProblems(page)));
  expect(problems).toEqual([]);

  // From the keyboard: the first Tab shows "Skip to content", which lands past the header; the
  // search is reachable and submits with Enter; whatever has focus shows a ring.
  await page.goto('/dashboard');
  await waitForHydration(page);
  await page.keyboard.press('Tab');
  const skip = page.getByTestId('skip-link');
  await expect(skip).toBeFocused();
  await expect(skip).toBeInViewport();
  const ring = (el: Element) => getComputedStyle(el).outlineStyle;
  expect(await skip.evaluate(ring)).not.toBe('none');
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/#main$/);
  const order: string[] = [];
  for (let i = 0; i < 12 && !order.includes('search-q'); i++) {
    await page.keyboard.press('Tab');
    const focused = page.locator(':focus');
    expect(await focused.evaluate(ring), `focus ring on ${await focused.evaluate((e) => e.outerHTML.slice(0, 80))}`).not.toBe('none');
    order.push((await focused.getAttribute('data-testid')) ?? (await focused.evaluate((e) => e.tagName)));
  }
  // The header's links come before the skip target only: after skipping, Tab starts in the page.
  expect(order).not.toContain('nav-sign-out');
  expect(order).toContain('search-q');
  await page.keyboard.type(marker);
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(new RegExp(`/dashboard\\?q=${marker}`));
  await expect(page.getByTestId('signal').filter({ hasText: 'Chart Wizard' })).toHaveCount(1);
});
