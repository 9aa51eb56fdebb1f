import { test, expect, waitForHydration, signUp, signUpVerified } from './fixtures';
import { serverCli } from './cli';
import { createPolicy, sellappWebhook } from './sellapp';

/** Snowflake-shaped ids that differ per run, as strings. */
const base = BigInt(Date.now()) * 1000n + 700n;
const id = (n: number) => String(base + BigInt(n));

test('a basic customer does not see a pro channel, then sees its history right after an upgrade webhook', async ({ page, browser, request }, info) => {
  const guild = id(1);
  const open = id(2);
  const pro = id(3);
  const run = `${info.project.name}-${Date.now()}`;
  const admin = `tiers-ops-${run}@example.com`;
  await signUp(page, admin);
  serverCli(info.project.name, ['admin', 'promote', '--email', admin]);

  // A connector reports two channels; #pro-calls opens from Pro up (set on /admin/channels).
  await page.goto('/admin/connectors');
  await waitForHydration(page);
  await page.getByLabel('New connector name').fill(`Tiers collector ${run}`);
  await page.getByTestId('create-connector').click();
  const token = (await page.getByTestId('token-value').textContent())!.trim();
  const headers = { authorization: `Bearer ${token}`, 'x-connector-version': 'e2e-collector 1.0' };
  expect((await request.put('/api/v1/discovery/guilds', { headers, data: { guilds: [{ id: guild, name: `Tiers ${run}` }] } })).status()).toBe(200);
  expect((await request.put(`/api/v1/discovery/guilds/${guild}/channels`, { headers, data: { channels: [
    { id: open, name: 'open-calls', type: 0, position: 0 },
    { id: pro, name: 'pro-calls', type: 0, position: 1 },
  ] } })).status()).toBe(200);
  serverCli(info.project.name, ['channel', 'source', '--id', open]);
  serverCli(info.project.name, ['channel', 'source', '--id', pro]);
  await page.goto(`/admin/channels?guild=${guild}`);
  await waitForHydration(page);
  const row = page.getByTestId('channel').filter({ hasText: pro });
  await row.getByTestId('channel-tier').selectOption({ label: 'Pro and up' });
  await row.getByTestId('set-tier').click();
  await expect(page.getByTestId('channel').filter({ hasText: pro }).getByTestId('channel-tier')).toHaveValue(/\d+/);

  const basicProduct = 8000 + (Date.now() % 1000);
  const proProduct = basicProduct + 1;
  await createPolicy(page, basicProduct, 'Basic', 30);
  await createPolicy(page, proProduct, 'Pro', 30);

  const event = (channel: string, n: number, content: string) => ({
    type: 'message_create', guild_id: guild, channel_id: channel, message_id: id(100 + n),
    author: { id: id(50), name: 'Head Trader' }, content, created_at: new Date().toISOString(),
  });
  const post = async (data: unknown) => expect(await (await request.post('/api/v1/events', { headers, data })).json()).toEqual({ status: 'accepted' });
  await post(event(open, 1, `Open call ${run}`));
  await post(event(pro, 2, `Pro call ${run}`));

  // A customer buys Basic: the open channel's signal shows, the pro one does not.
  const context = await browser.newContext();
  const customer = await context.newPage();
  const email = `climber-${run}@example.com`;
  await signUpVerified(customer, email);
  const order = Date.now() % 1_000_000;
  await sellappWebhook(request, 'order.completed', order, email, 'COMPLETED', basicProduct);
  await expect
    .poll(async () => {
      await customer.goto('/dashboard');
      return customer.getByTestId('access-tier').textContent({ timeout: 1000 }).catch(() => null);
    })
    .toBe('Basic');
  await waitForHydration(customer);
  await expect(customer.getByTestId('connection')).toHaveAttribute('data-state', 'live');
  const feed = customer.getByTestId('feed');
  await expect(feed).toContainText(`Open call ${run}`);
  await expect(feed).not.toContainText(`Pro call ${run}`);
  await expect(customer.getByTestId('locked-channels')).toContainText('#pro-calls (Pro)');

  // The upgrade webhook: the open page reloads its list by itself and shows the pro history.
  await sellappWebhook(request, 'order.completed', order + 1, email, 'COMPLETED', proProduct);
  await expect(customer.getByTestId('access-tier')).toHaveText('Pro', { timeout: 10_000 });
  await expect(feed).toContainText(`Pro call ${run}`);
  await expect(customer.getByTestId('open-channels')).toContainText('#pro-calls');
  await context.close();
});
