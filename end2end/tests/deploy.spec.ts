import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test, expect, waitForHydration, signUp, signUpVerified } from './fixtures';
import { serverCli } from './cli';
import { createPolicy, sellappWebhook } from './sellapp';
import { linkDiscord, memberRoles } from './fake_discord';

// The deployment smoke test (project "deploy", end2end/deploy.sh): everything goes through nginx
// configured as deploy/nginx/signaldesk.conf, in front of two server processes and two bots on
// one PostgreSQL database. Sign-in, a webhook, the live feed over the proxy's websocket (signals
// posted to whichever server nginx picks reach the dashboard held by the other), and a role job
// done by one of the bots.

const base = BigInt(Date.now()) * 1000n + 900n;
const id = (n: number) => String(base + BigInt(n));
const BASIC = '1300000000000000001';

test('two servers and two bots behind nginx: sign in, a webhook, the live feed, a role', async ({ page, browser, request, baseURL }) => {
  const stamp = Date.now();
  const product = 9000 + (stamp % 1000);
  const admin = `deploy-ops-${stamp}@example.com`;
  await signUp(page, admin);
  serverCli('deploy', ['admin', 'promote', '--email', admin]);
  await createPolicy(page, product, 'Basic', 30);

  // A customer signs up and verifies through the proxy; a signed webhook through the proxy pays.
  const context = await browser.newContext();
  const customer = await context.newPage();
  const email = `deploy-customer-${stamp}@example.com`;
  await signUpVerified(customer, email);
  await sellappWebhook(request, 'order.completed', stamp % 1_000_000, email, 'COMPLETED', product);

  // A collector's source channel, set up through the proxy.
  const token = serverCli('deploy', ['connector', 'create', '--name', `deploy-${stamp}`]).match(/token \(shown once, store it now\): (\S+)/)![1];
  const headers = { authorization: `Bearer ${token}` };
  expect((await request.put('/api/v1/discovery/guilds', { headers, data: { guilds: [{ id: id(1), name: 'Alpha' }] } })).status()).toBe(200);
  expect((await request.put(`/api/v1/discovery/guilds/${id(1)}/channels`, { headers, data: { channels: [{ id: id(2), name: 'signals', type: 0 }] } })).status()).toBe(200);
  serverCli('deploy', ['channel', 'source', '--id', id(2)]);

  // The dashboard follows the live feed over nginx's websocket; every signal posted (nginx spreads
  // the posts over both servers) arrives on it.
  await customer.goto('/dashboard');
  await waitForHydration(customer);
  await expect(customer.getByTestId('access-tier')).toHaveText('Basic');
  await expect(customer.getByTestId('connection')).toHaveAttribute('data-state', 'live');
  for (let i = 0; i < 4; i++) {
    const res = await request.post('/api/v1/events', {
      headers,
      data: { type: 'message_create', guild_id: id(1), channel_id: id(2), message_id: id(100 + i),
        author: { id: id(50), name: 'Head Trader' }, content: `deploy signal ${i}`, created_at: new Date().toISOString() },
    });
    expect(res.status()).toBe(200);
  }
  for (let i = 0; i < 4; i++) {
    await expect(customer.getByTestId('signal').filter({ hasText: `deploy signal ${i}` })).toHaveCount(1);
  }

  // Link Discord (the fake's authorise page); one of the two bots gives the paid tier's role.
  const username = `deploy-trader-${stamp}`;
  await linkDiscord(customer, username);
  await expect.poll(() => memberRoles(request, baseURL!, username), { timeout: 20_000 }).toEqual([BASIC]);
  await context.close();

  // Both servers answered requests through the proxy.
  const log = readFileSync(path.join(__dirname, '..', '.state', 'deploy-upstreams.log'), 'utf8');
  const port = Number(new URL(baseURL!).port);
  for (const server of [port + 1, port + 2]) {
    expect(log, `server on ${server} answered through nginx`).toContain(`127.0.0.1:${server}`);
  }
  // The websocket went through nginx (101: switched protocols).
  expect(log).toMatch(/ 101 GET \/api\/v1\/feed\/ws/);
});
