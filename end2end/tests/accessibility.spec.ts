import type { Page } from '@playwright/test';
import { test, expect, waitForHydration, signUp, signUpVerified, seriousA11yProblems } from './fixtures';
import { serverCli } from './cli';
import { sellappWebhook } from './sellapp';

// axe-core on every page a visitor, a customer or the operator can open, with data on them
// (a connector with a discovered guild and channels, a customer with access, a failed webhook).
// No channel is flagged here: the server's database is shared by the specs, and capture.spec.ts
// expects to flag the first Source channel. The customer's dashboard with every kind of card,
// Source channels included, is checked in dashboard.spec.ts.

const base = BigInt(Date.now()) * 1000n + 700n;
const id = (n: number) => String(base + BigInt(n));

async function expectNoSeriousProblems(page: Page, paths: string[]) {
  const problems: string[] = [];
  for (const path of paths) {
    await page.goto(path);
    await waitForHydration(page);
    problems.push(...(await seriousA11yProblems(page)));
  }
  expect(problems).toEqual([]);
}

test('pages a visitor sees have no serious or critical accessibility problems', async ({ page }) => {
  await expectNoSeriousProblems(page, ['/', '/login', '/signup', '/forgot-password', '/reset-password?token=x', '/verify-email?token=x', '/sign-in-link?token=x', '/unsubscribe?token=x', '/unsubscribe?off=email']);
});

test('the account page has no serious or critical accessibility problems', async ({ page }, info) => {
  await signUp(page, `a11y-acct-${info.project.name}-${Date.now()}@example.com`);
  await expectNoSeriousProblems(page, ['/account', '/dashboard']);
});

test('every admin page, with data on it, has no serious or critical accessibility problems', async ({ page, request }, info) => {
  const project = info.project.name;
  const email = `a11y-ops-${project}-${Date.now()}@example.com`;
  await signUpVerified(page, email);
  serverCli(project, ['admin', 'promote', '--email', email]);
  serverCli(project, ['access', 'grant', '--email', email, '--tier', 'pro', '--days', '30', '--reason', 'e2e']);
  const token = serverCli(project, ['connector', 'create', '--name', `a11y-${Date.now()}`]).match(/token \(shown once, store it now\): (\S+)/)![1];
  const headers = { authorization: `Bearer ${token}` };
  expect((await request.put('/api/v1/discovery/guilds', { headers, data: { guilds: [{ id: id(1), name: 'Alpha' }] } })).status()).toBe(200);
  expect((await request.put(`/api/v1/discovery/guilds/${id(1)}/channels`, {
    headers, data: { channels: [{ id: id(2), name: 'signals', type: 0 }, { id: id(3), name: 'chat', type: 0 }] },
  })).status()).toBe(200);
  // A paid order for a product no policy covers: a webhook the console lists as needing attention.
  await sellappWebhook(request, 'order.completed', Number(Date.now() % 1_000_000_000), email, 'COMPLETED', 987_654);

  await expectNoSeriousProblems(page, [
    '/admin', '/admin/users', '/admin/connectors', '/admin/channels', '/admin/customers', '/admin/policies',
    '/admin/webhooks', '/admin/discord', '/admin/mirror', '/admin/queues',
  ]);

  // From the keyboard: the first Tab offers "Skip to content"; after it, the next Tab is in the page, past the admin menu.
  await page.goto('/admin/connectors');
  await waitForHydration(page);
  await page.keyboard.press('Tab');
  await expect(page.getByTestId('skip-link')).toBeFocused();
  await page.keyboard.press('Enter');
  await page.keyboard.press('Tab');
  await expect(page.locator('main :focus')).toHaveCount(1);
});
