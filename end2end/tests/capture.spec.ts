import type { APIRequestContext, Page } from '@playwright/test';
import { test, expect, waitForHydration, signUp, PASSWORD } from './fixtures';
import { serverCli } from './cli';


/** Snowflake-shaped ids that differ per run, as strings (never numbers). */
const base = BigInt(Date.now()) * 1000n;
const id = (n: number) => String(base + BigInt(n));

async function signUpAdmin(page: Page, project: string): Promise<string> {
  const email = `ops-${project}-${Date.now()}@example.com`;
  await signUp(page, email);
  serverCli(project, ['admin', 'promote', '--email', email]);
  return email;
}

function connectorApi(request: APIRequestContext, token: string) {
  const headers = { authorization: `Bearer ${token}`, 'x-connector-version': 'e2e-collector 1.0' };
  return {
    put: (path: string, data: unknown) => request.put(`/api/v1${path}`, { headers, data }),
    post: (path: string, data: unknown) => request.post(`/api/v1${path}`, { headers, data }),
    config: () => request.get('/api/v1/connector/config', { headers }),
  };
}

test('admin creates a connector, discovers a guild and its channels, flags them and maps them', async ({ page, request }, info) => {
  const guild = id(1);
  const signals = id(2);
  const mirror = id(3);
  const lounge = id(4);
  await signUpAdmin(page, info.project.name);

  await page.goto('/admin/connectors');
  await waitForHydration(page);
  await page.getByLabel('New connector name').fill(`Source collector ${info.project.name}`);
  await page.getByTestId('create-connector').click();
  const token = (await page.getByTestId('token-value').textContent())!.trim();
  expect(token).toMatch(/^sdc_[A-Za-z0-9_-]{43}$/);
  await expect(page.getByTestId('connector').filter({ hasText: `Source collector ${info.project.name}` })).toBeVisible();

  // The collector reports its guild: it shows up for the admin.
  const api = connectorApi(request, token);
  expect((await api.put('/discovery/guilds', { guilds: [{ id: guild, name: `Alpha Signals ${info.project.name}` }] })).status()).toBe(200);

  await page.goto('/admin/channels');
  await waitForHydration(page);
  await page.getByTestId('guild-picker').selectOption({ label: `Alpha Signals ${info.project.name}` });
  await page.getByTestId('show-guild').click();
  await expect(page).toHaveURL(new RegExp(`guild=${guild}`));
  await waitForHydration(page);
  await expect(page.getByTestId('channels-empty')).toBeVisible();

  // "Fetch channels" → the connector sees the request in its config and answers it.
  await page.getByTestId('fetch-channels').click();
  await expect(page.getByTestId('fetch-status')).toHaveText(/Waiting for the connector/);
  await expect
    .poll(async () => (await (await api.config()).json()).discovery_requests.map((r: { guild_id: string }) => r.guild_id))
    .toEqual([guild]);
  const answer = await api.put(`/discovery/guilds/${guild}/channels`, {
    channels: [
      { id: signals, name: 'signals', type: 0, position: 0 },
      { id: mirror, name: 'vip-mirror', type: 0, position: 1 },
      { id: lounge, name: 'lounge', type: 2, position: 2 },
    ],
  });
  expect(answer.status()).toBe(200);
  await expect(page.getByTestId('channel')).toHaveCount(3);
  await expect(page.getByTestId('fetch-status')).toHaveText(/answered/);

  const row = (name: string) => page.locator(`tr[data-name="${name}"]`);
  await row('signals').getByTestId('source-toggle').click();
  await expect(row('signals').getByTestId('source-toggle')).toHaveAttribute('aria-pressed', 'true');
  await row('vip-mirror').getByTestId('target-toggle').click();
  await expect(row('vip-mirror').getByTestId('target-toggle')).toHaveAttribute('aria-pressed', 'true');
  // A voice channel cannot be a source: the refusal is shown, nothing changes.
  await row('lounge').getByTestId('source-toggle').click();
  await expect(page.getByTestId('flag-error')).toContainText('cannot be a source');
  await expect(row('lounge').getByTestId('source-toggle')).toHaveAttribute('aria-pressed', 'false');

  // The pickers offer only flagged channels; create the mapping.
  await expect(page.getByTestId('map-source').locator('option')).toHaveText([`#signals (${signals}, every tier)`]);
  await expect(page.getByTestId('map-target').locator('option')).toHaveText([`#vip-mirror (${mirror}, every tier)`]);
  await page.getByTestId('create-mapping').click();
  await expect(page.getByTestId('mapping')).toHaveText([new RegExp(`#signals \\(${signals}, every tier\\) → #vip-mirror \\(${mirror}, every tier\\)`)]);

  // The connector now captures #signals; an event it posts shows in the live view.
  const config = await (await api.config()).json();
  expect(config.source_channels).toEqual([{ guild_id: guild, channel_id: signals, name: 'signals' }]);
  const posted = await api.post('/events', {
    type: 'message_create', guild_id: guild, channel_id: signals, message_id: id(100),
    author: { id: id(50), name: 'Head Trader' }, content: 'BTC long 91,000 | TP 93,500',
    created_at: new Date().toISOString(),
  });
  expect(await posted.json()).toEqual({ status: 'accepted' });
  await page.goto('/admin/connectors');
  await waitForHydration(page);
  const card = page.getByTestId('connector').filter({ hasText: `Source collector ${info.project.name}` });
  await expect(card.getByTestId('events')).toContainText('BTC long 91,000');
  await expect(card).toContainText('e2e-collector 1.0');
});

test('connector pages are readable before the wasm loads', async ({ browser }, info) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const email = `ops-nojs-${info.project.name}-${Date.now()}@example.com`;
  await page.goto('/signup');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByTestId('sign-up').click();
  serverCli(info.project.name, ['admin', 'promote', '--email', email]);
  serverCli(info.project.name, ['connector', 'create', '--name', 'No-JS collector']);
  await page.goto('/admin/connectors');
  await expect(page.getByRole('heading', { name: 'Connectors' })).toBeVisible();
  await expect(page.locator('[data-testid="connector"][data-name="No-JS collector"]')).toBeVisible();
  await page.goto('/admin/channels');
  await expect(page.getByTestId('guild-picker')).toBeVisible();
  await context.close();
});
