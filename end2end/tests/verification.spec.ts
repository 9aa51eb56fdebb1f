import type { Page } from '@playwright/test';
import { test, expect, waitForHydration, signUp, signUpVerified, verifyEmail, mailedLink, PASSWORD } from './fixtures';
import { serverCli } from './cli';
import { createPolicy, sellappWebhook } from './sellapp';

async function accessTier(page: Page) {
  await page.goto('/account');
  return page.getByTestId('access-tier').textContent({ timeout: 1000 }).catch(() => null);
}

test('a purchase reaches the account only once its e-mail is verified from the mail', async ({ page, browser, request }, info) => {
  const product = 8000 + (Date.now() % 1000);
  const admin = `ops-${info.project.name}-${Date.now()}@example.com`;
  await signUp(page, admin);
  serverCli(info.project.name, ['admin', 'promote', '--email', admin]);
  await createPolicy(page, product, 'Pro', 30);

  const context = await browser.newContext();
  const customer = await context.newPage();
  const email = `verify-${info.project.name}-${Date.now()}@example.com`;
  await signUp(customer, email);
  await expect(customer.getByTestId('verify-notice')).toContainText('Verify your e-mail to receive your purchase');

  await sellappWebhook(request, 'order.completed', Date.now() % 1_000_000, email, 'COMPLETED', product);
  // Paid, but the address is not proved yet: nothing arrives.
  await expect.poll(() => accessTier(customer), { timeout: 3000 }).toBeNull();
  await expect(customer.getByTestId('no-access')).toBeVisible();

  // The link from the mail the local SMTP sink caught.
  await verifyEmail(customer, email);
  await expect.poll(() => accessTier(customer)).toBe('Pro');
  await context.close();
});

test("'Sign out everywhere else' stops a second browser's live feed within a second", async ({ page, browser }, info) => {
  const email = `two-${info.project.name}-${Date.now()}@example.com`;
  await signUpVerified(page, email);
  serverCli(info.project.name, ['access', 'grant', '--email', email, '--tier', 'pro', '--days', '30', '--reason', 'e2e']);

  const phone = await browser.newContext();
  const feed = await phone.newPage();
  await feed.goto('/login?next=/dashboard');
  await waitForHydration(feed);
  await feed.getByLabel('Email').fill(email);
  await feed.getByLabel('Password').fill(PASSWORD);
  await feed.getByTestId('sign-in').click();
  await expect(feed).toHaveURL(/\/dashboard$/);
  await waitForHydration(feed);
  await expect(feed.getByTestId('connection')).toHaveAttribute('data-state', 'live');

  await page.goto('/account');
  await waitForHydration(page);
  const revoked = page.waitForResponse((r) => r.url().includes('/rpc/sessions/revoke-others') && r.ok());
  await page.getByTestId('revoke-others').click();
  await revoked;
  const committed = Date.now();
  await expect(feed.getByTestId('connection')).toHaveAttribute('data-state', 'signed_out', { timeout: 1000 });
  expect(Date.now() - committed).toBeLessThan(1000);
  await expect(feed.getByTestId('signed-out')).toBeVisible();
  await phone.close();
});

test("the verification link names the account, and 'This wasn't me' deletes it without JavaScript", async ({ page, browser }, info) => {
  // Someone signs up with an address that is not theirs; the mail goes to its owner.
  const email = `squat-${info.project.name}-${Date.now()}@example.com`;
  await signUp(page, email);
  const link = await mailedLink(page, email, '/verify-email?token=');

  const owner = await browser.newContext({ javaScriptEnabled: false });
  const mailbox = await owner.newPage();
  await mailbox.goto(link);
  await expect(mailbox.getByTestId('verify-account')).toContainText(email);
  await expect(mailbox.getByTestId('verify-email')).toHaveText('Confirm, this is me');
  await mailbox.getByTestId('not-me').click();
  await expect(mailbox.getByTestId('account-deleted')).toBeVisible();
  // The link went with the account: opening it again says it is no longer valid.
  await mailbox.goto(link);
  await expect(mailbox.getByTestId('error-token').first()).toContainText('not valid');
  await owner.close();

  // The squatter's browser is signed out: the account is gone.
  await page.goto('/account');
  await expect(page).toHaveURL(/\/login/);
});
