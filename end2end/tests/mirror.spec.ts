import type { APIRequestContext } from '@playwright/test';
import { test, expect, waitForHydration, signUp, signUpVerified } from './fixtures';
import { serverCli } from './cli';

/** Snowflake-shaped ids that differ per run, as strings. */
const base = BigInt(Date.now()) * 1000n + 500n;
const id = (n: number) => String(base + BigInt(n));

/** The fake Discord serve.sh starts beside the server (port + 30). */
function fakeDiscord(baseURL: string): string {
  return `http://127.0.0.1:${Number(new URL(baseURL).port) + 30}`;
}

/** The contents of the messages in one of the fake's channels, oldest first. */
async function channelContents(request: APIRequestContext, baseURL: string, channel: string): Promise<string[]> {
  const res = await request.get(`${fakeDiscord(baseURL)}/_fake/channels/${channel}/messages`);
  return (await res.json()).map((m: { content: string }) => m.content);
}

/** The file names of each message in one of the fake's channels, oldest first. */
async function channelFiles(request: APIRequestContext, baseURL: string, channel: string): Promise<string[][]> {
  const res = await request.get(`${fakeDiscord(baseURL)}/_fake/channels/${channel}/messages`);
  return (await res.json()).map((m: { attachments: { filename: string }[] }) => m.attachments.map((a) => a.filename));
}

test('a signal posted through the ingest API is mirrored with its image; its edit and delete follow', async ({ page, request, baseURL }, info) => {
  const guild = id(1);
  const signals = id(2);
  const mirror = id(3);
  const admin = `mirror-ops-${info.project.name}-${Date.now()}@example.com`;
  await signUpVerified(page, admin);
  serverCli(info.project.name, ['admin', 'promote', '--email', admin]);

  // A connector reports a guild with a source and a target channel; the admin maps them.
  await page.goto('/admin/connectors');
  await waitForHydration(page);
  const name = `Mirror collector ${info.project.name} ${Date.now()}`;
  await page.getByLabel('New connector name').fill(name);
  await page.getByTestId('create-connector').click();
  const token = (await page.getByTestId('token-value').textContent())!.trim();
  const headers = { authorization: `Bearer ${token}`, 'x-connector-version': 'e2e-collector 1.0' };
  expect((await request.put('/api/v1/discovery/guilds', { headers, data: { guilds: [{ id: guild, name: `Mirror ${info.project.name}` }] } })).status()).toBe(200);
  expect((await request.put(`/api/v1/discovery/guilds/${guild}/channels`, { headers, data: { channels: [
    { id: signals, name: 'signals', type: 0, position: 0 },
    { id: mirror, name: 'vip-mirror', type: 0, position: 1 },
  ] } })).status()).toBe(200);
  serverCli(info.project.name, ['channel', 'source', '--id', signals]);
  serverCli(info.project.name, ['channel', 'target', '--id', mirror]);
  await page.goto(`/admin/channels?guild=${guild}`);
  await waitForHydration(page);
  // (Other tests' channels may be listed too: pick ours.)
  await page.getByTestId('map-source').selectOption(signals);
  await page.getByTestId('map-target').selectOption(mirror);
  await page.getByTestId('create-mapping').click();
  await expect(page.getByTestId('mapping').filter({ hasText: signals })).toHaveText([new RegExp(`#signals \\(${signals}, every tier\\) → #vip-mirror \\(${mirror}, every tier\\)`)]);

  // Forwarding on: the connector's captures are mirrored.
  await page.goto('/admin/connectors');
  await waitForHydration(page);
  const card = page.getByTestId('connector').filter({ hasText: name });
  await card.getByTestId('toggle-forwarding').click();
  await expect(card.getByTestId('connector-forwarding')).toHaveText('forwarding on');

  // The chart lives on the fake Discord's CDN (serve.sh allows it as the attachment source).
  const chart = { id: id(200), filename: 'chart.png', url: `${fakeDiscord(baseURL!)}/attachments/${signals}/${id(200)}/chart.png`, content_type: 'image/png', size: 68, width: 320, height: 180 };
  const event = (type: string, content: string, edited?: string) => ({
    type, guild_id: guild, channel_id: signals, message_id: id(100),
    author: { id: id(50), name: 'Head Trader' }, content, attachments: [chart],
    created_at: new Date(Date.now() - 5_000).toISOString(), edited_at: edited,
  });
  const post = async (data: unknown) => expect(await (await request.post('/api/v1/events', { headers, data })).json()).toEqual({ status: 'accepted' });
  await post(event('message_create', '@everyone BTC long 91,000 | TP 93,500'));
  await expect.poll(() => channelContents(request, baseURL!, mirror), { timeout: 15_000 }).toEqual(['@everyone BTC long 91,000 | TP 93,500', '']);
  expect(await channelFiles(request, baseURL!, mirror)).toEqual([[], ['chart.png']]);

  // The dashboard shows the same signal with the image served from our own origin.
  serverCli(info.project.name, ['access', 'grant', '--email', admin, '--tier', 'pro', '--days', '30', '--reason', 'e2e']);
  await page.goto('/dashboard');
  await waitForHydration(page);
  const found = page.getByTestId('signal').filter({ hasText: 'BTC long 91,000 | TP 93,500' }).first();
  const signalCard = page.locator(`[data-testid="signal"][data-id="${await found.getAttribute('data-id')}"]`);
  await expect(signalCard.getByTestId('attachment-inline')).toHaveAttribute('src', /^\/attachments\/\d+\/\d+$/);
  await expect.poll(() => signalCard.getByTestId('attachment-inline').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(1);

  await post(event('message_update', 'BTC long 91,000 | TP 94,000', new Date().toISOString()));
  await expect.poll(() => channelContents(request, baseURL!, mirror), { timeout: 15_000 }).toEqual(['BTC long 91,000 | TP 94,000', '']);
  await expect(signalCard.getByTestId('content')).toHaveText('BTC long 91,000 | TP 94,000');
  await post({ type: 'message_delete', guild_id: guild, channel_id: signals, message_id: id(100) });
  await expect.poll(() => channelContents(request, baseURL!, mirror), { timeout: 15_000 }).toEqual([]);

  // The mirror page shows the deliveries.
  await page.goto('/admin/mirror');
  await waitForHydration(page);
  await expect(page.getByTestId('op-delete')).toContainText('delete');
  await expect(page.getByTestId('mirror-chart')).toContainText('operation(s)');
});
