import { test, expect, waitForHydration, signUp, signUpVerified } from './fixtures';
import { serverCli } from './cli';
import { createPolicy, sellappWebhook } from './sellapp';
import { fakeDiscord, linkDiscord, memberRoles } from './fake_discord';

const BASIC = '1300000000000000001';
const ADVANCED = '1300000000000000002';
const BASIC_NAME = 'Basic';

test('pay → link Discord → the role arrives; a mapping change moves it; a refund removes it', async ({ page, browser, request, baseURL }, info) => {
  const stamp = Date.now();
  const product = 8000 + (stamp % 1000);
  const order = stamp % 1_000_000;
  const admin = `discord-boss-${info.project.name}-${stamp}@example.com`;
  await signUp(page, admin);
  serverCli(info.project.name, ['admin', 'promote', '--email', admin]);
  await createPolicy(page, product, 'Basic', 30);

  const context = await browser.newContext();
  const customer = await context.newPage();
  const email = `linker-${info.project.name}-${stamp}@example.com`;
  const username = `trader-${info.project.name}-${stamp}`;
  await signUpVerified(customer, email);
  await sellappWebhook(request, 'order.completed', order, email, 'COMPLETED', product);

  // Link Discord: Discord's own page (the fake), then back to /account.
  await linkDiscord(customer, username);
  await expect(customer.getByTestId('discord-message')).toContainText('Discord linked');
  await expect(customer.getByTestId('discord-linked')).toContainText(username);
  await expect.poll(() => memberRoles(request, baseURL!, username), { timeout: 15_000 }).toEqual([BASIC]);

  // The admin maps Basic to another role: the member's role moves.
  await page.goto('/admin/discord');
  await waitForHydration(page);
  await expect(page.getByTestId('bot').first()).toHaveAttribute('data-state', 'connected');
  await expect(page.getByTestId('roles')).toContainText('Advanced');
  await page.getByLabel('Roles for Basic').fill(ADVANCED);
  await page.getByTestId('tier-Basic').getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('mapping-saved')).toContainText('Role sync queued');
  await expect.poll(() => memberRoles(request, baseURL!, username), { timeout: 15_000 }).toEqual([ADVANCED]);

  // A moderator hands out the old role by hand: a dry run shows the drift, a repair takes the
  // role back. (First the role-sync queue settles, so no job still on its way takes it first.)
  await expect.poll(async () => {
    const res = await page.request.post('/rpc/admin/queues', { headers: { accept: 'application/json', origin: baseURL! } });
    const view = await res.json();
    const sync = view.kinds.find((k: { kind: string }) => k.kind === 'RoleSync');
    return sync.queued + sync.running;
  }, { timeout: 30_000 }).toBe(0);
  const state = await (await request.get(`${fakeDiscord(baseURL!)}/_fake/state`)).json();
  const res = await request.post(`${fakeDiscord(baseURL!)}/_fake/members`, {
    data: { guild_id: state.guilds[0].id, username, roles: [ADVANCED, BASIC] },
  });
  expect(res.status()).toBe(204);
  await page.getByTestId('drift-dry-run').click();
  await expect(page.getByTestId('drift-status')).toHaveAttribute('data-state', 'done', { timeout: 15_000 });
  await expect(page.getByTestId('drift-row').filter({ hasText: email })).toContainText(BASIC_NAME);
  await page.getByTestId('drift-repair').click();
  await expect(page.getByTestId('drift-status')).toContainText('Repair by', { timeout: 15_000 });
  await expect(page.getByTestId('drift-status')).toHaveAttribute('data-state', 'done', { timeout: 15_000 });
  await expect.poll(() => memberRoles(request, baseURL!, username), { timeout: 15_000 }).toEqual([ADVANCED]);

  // Refunded: access ends, the role goes.
  await sellappWebhook(request, 'order.updated', order, email, 'REFUNDED', product);
  await expect.poll(() => memberRoles(request, baseURL!, username), { timeout: 15_000 }).toEqual([]);

  // The queues page shows the work.
  await page.goto('/admin/queues');
  await waitForHydration(page);
  await expect(page.getByTestId('queue-rolesync')).toBeVisible();
  await expect(page.getByTestId('jobs-per-minute')).toContainText('Jobs finished per minute');
  await expect(page.getByTestId('claim-latency')).toContainText('claim(s)');
  await context.close();
});
