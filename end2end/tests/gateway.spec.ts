import { test, expect, waitForHydration, signUp, signUpVerified } from './fixtures';
import { serverCli } from './cli';

/** Snowflake-shaped ids that differ per run, as strings (never numbers). */
const base = BigInt(Date.now()) * 1000n + 700n;
const id = (n: number) => String(base + BigInt(n));

/** The fake Discord serve.sh starts beside the server (port + 30); the bot is on its gateway. */
function fakeDiscord(baseURL: string): string {
  return `http://127.0.0.1:${Number(new URL(baseURL).port) + 30}`;
}

test('the bot discovers a server it joins, and a message posted there reaches the dashboard live', async ({ page, request, baseURL }, info) => {
  const guild = id(1);
  const category = id(2);
  const signals = id(3);
  const chat = id(4);
  const admin = `gateway-ops-${info.project.name}-${Date.now()}@example.com`;
  await signUpVerified(page, admin);
  serverCli(info.project.name, ['admin', 'promote', '--email', admin]);
  serverCli(info.project.name, ['access', 'grant', '--email', admin, '--tier', 'pro', '--days', '30', '--reason', 'e2e']);

  // The operator invites the bot to the source server: Discord sends it GUILD_CREATE.
  const guildName = `Gateway HQ ${info.project.name}`;
  const invited = await request.post(`${fakeDiscord(baseURL!)}/_fake/guilds`, { data: {
    id: guild, name: guildName, invite: true,
    channels: [
      { id: category, name: 'Trading', type: 4 },
      { id: signals, name: 'signals', type: 0, parent_id: category },
      { id: chat, name: 'chat', type: 0 },
    ],
  } });
  expect(invited.status()).toBe(204);

  // The built-in connector is listed, capturing.
  await page.goto('/admin/connectors');
  await waitForHydration(page);
  const bot = page.getByTestId('connector').filter({ has: page.getByTestId('connector-kind').filter({ hasText: 'Discord bot' }) });
  await expect(bot.getByTestId('capture-holder')).toHaveText(/Capturing from the gateway/, { timeout: 15_000 });
  await expect(bot.getByTestId('rotate')).toHaveCount(0);

  // Its guild and channels are there without "Fetch channels".
  await page.goto('/admin/channels');
  await waitForHydration(page);
  await expect(page.getByTestId('guild-picker').locator('option', { hasText: guildName })).toHaveCount(1, { timeout: 15_000 });
  await page.goto(`/admin/channels?guild=${guild}`);
  await waitForHydration(page);
  await expect(page.getByTestId('channel')).toHaveCount(3);
  const row = (name: string) => page.locator(`tr[data-name="${name}"]`);
  await row('signals').getByTestId('source-toggle').click();
  await expect(row('signals').getByTestId('source-toggle')).toHaveAttribute('aria-pressed', 'true');

  // A trader posts in #signals on Discord: the dashboard shows it live; #chat stays out.
  await page.goto('/dashboard');
  await waitForHydration(page);
  await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
  const content = `ETH short 3,150 (${info.project.name} ${Date.now()})`;
  await request.post(`${fakeDiscord(baseURL!)}/_fake/messages`, { data: { channel_id: chat, author: 'gateway-trader', content: `chat ${content}` } });
  await request.post(`${fakeDiscord(baseURL!)}/_fake/messages`, { data: { channel_id: signals, author: 'gateway-trader', content } });
  const card = page.getByTestId('signal').filter({ hasText: content }).first();
  await expect(card.getByTestId('content')).toHaveText(content, { timeout: 10_000 });
  await expect(page.getByTestId('signal').filter({ hasText: `chat ${content}` })).toHaveCount(0);
});
