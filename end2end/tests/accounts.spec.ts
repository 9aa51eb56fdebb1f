import type { Page } from '@playwright/test';
import { test, expect, waitForHydration, signUp, PASSWORD } from './fixtures';
import { serverCli } from './cli';

const unique = (p: string, project: string) => `${p}-${project}-${Date.now()}@example.com`;


async function signIn(page: Page, email: string) {
  await page.goto('/login');
  await waitForHydration(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByTestId('sign-in').click();
}

test('sign up, sign out, sign in, and revoke another session', async ({ page, browser }, info) => {
  const email = unique('ada', info.project.name);
  await signUp(page, email);
  await expect(page.getByTestId('account-email')).toHaveText(email);

  await page.getByTestId('sign-out').click();
  await expect(page).toHaveURL(/\/$/);

  await signIn(page, email.toUpperCase());
  await expect(page).toHaveURL(/\/account$/);

  // A second browser signs in to the same account.
  const other = await browser.newContext();
  const otherPage = await other.newPage();
  await signIn(otherPage, email);
  await expect(otherPage).toHaveURL(/\/account$/);

  await page.reload();
  await waitForHydration(page);
  const sessions = page.getByTestId('sessions').locator('li');
  await expect(sessions).toHaveCount(2);
  // Named as people name browsers, not by the raw user agent (that stays in the tooltip).
  await expect(page.getByTestId('session-name').first()).toHaveText('Chrome on Linux');
  await page.getByTestId('revoke-session').click();
  await expect(sessions).toHaveCount(1);

  // The other browser is signed out: opening its account page sends it to sign in.
  await otherPage.goto('/account');
  await expect(otherPage).toHaveURL(/\/login\?next=\/account$/);
  await other.close();
});

test('sign-up errors show beside the field, with and without JavaScript', async ({ page, browser }, info) => {
  await page.goto('/signup');
  await waitForHydration(page);
  await page.getByLabel('Email').fill(unique('short', info.project.name));
  await page.getByLabel('Password').fill('too short');
  await page.getByTestId('sign-up').click();
  await expect(page.getByTestId('error-password')).toHaveText('use at least 12 characters');
  await expect(page).toHaveURL(/\/signup$/);

  const noJs = await browser.newContext({ javaScriptEnabled: false });
  const p = await noJs.newPage();
  await p.goto('/signup');
  await p.getByLabel('Email').fill('not-an-email');
  await p.getByLabel('Password').fill(PASSWORD);
  await p.getByTestId('sign-up').click();
  await expect(p.getByTestId('error-email')).toContainText('valid email address');
  await noJs.close();
});

test('wrong password gives one message', async ({ page }) => {
  await page.goto('/login');
  await waitForHydration(page);
  await page.getByLabel('Email').fill('nobody-here@example.com');
  await page.getByLabel('Password').fill('not the password at all');
  await page.getByTestId('sign-in').click();
  await expect(page.getByTestId('form-error')).toHaveText('the email or password is not right');
});

test('a customer opening /admin sees the not-allowed page', async ({ page }, info) => {
  await signUp(page, unique('cust', info.project.name));

  const res = await page.goto('/admin');
  expect(res?.status()).toBe(403);
  await expect(page.getByTestId('not-allowed')).toBeVisible();
  await expect(page.getByTestId('users-table')).toHaveCount(0);
});

test('an admin created with the CLI sees the user list', async ({ page }, info) => {
  const email = unique('boss', info.project.name);
  const out = serverCli(info.project.name, ['admin', 'create', '--email', email], `${PASSWORD}\n`);
  expect(out).toContain(`created admin ${email}`);

  await page.goto('/admin/users');
  await expect(page).toHaveURL(/\/login\?next=\/admin\/users$/);
  await waitForHydration(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByTestId('sign-in').click();
  await expect(page).toHaveURL(/\/admin\/users$/);
  const table = page.getByTestId('users-table');
  await expect(table).toContainText(email);
  await expect(table).toContainText('admin');

  // Search narrows the list (a plain GET form).
  await page.getByRole('searchbox').fill('boss-' + info.project.name);
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page).toHaveURL(/q=boss-/);
  await expect(table.locator('tbody tr')).toHaveCount(1);
});

test('reminder switches work after the wasm loads and before it does', async ({ page, browser }, info) => {
  await signUp(page, unique('remind', info.project.name));
  await expect(page.getByTestId('reminder-email')).toHaveAttribute('data-on', 'true');
  await waitForHydration(page);
  await page.getByTestId('reminder-email-toggle').click();
  await expect(page.getByTestId('reminder-email')).toHaveAttribute('data-on', 'false');
  await expect(page.getByTestId('reminder-discord')).toHaveAttribute('data-on', 'true');

  // Without JavaScript the switch is a plain form post; the page comes back with the new state.
  const noJs = await browser.newContext({ javaScriptEnabled: false });
  await noJs.addCookies(await page.context().cookies());
  const p = await noJs.newPage();
  await p.goto('/account');
  await expect(p.getByTestId('reminder-email')).toHaveAttribute('data-on', 'false');
  await p.getByTestId('reminder-email-toggle').click();
  await expect(p.getByTestId('reminder-email')).toHaveAttribute('data-on', 'true');
  await noJs.close();
});

test('an unsubscribe link that is not ours says so, with and without JavaScript', async ({ page, browser }) => {
  // Opening the link changes nothing; the button does (a mail scanner only opens links).
  await page.goto('/unsubscribe?token=forged');
  await waitForHydration(page);
  await page.getByTestId('unsubscribe').click();
  await expect(page.getByTestId('error-token')).toContainText('this link is not valid');

  const noJs = await browser.newContext({ javaScriptEnabled: false });
  const p = await noJs.newPage();
  await p.goto('/unsubscribe?token=forged');
  await p.getByTestId('unsubscribe').click();
  await expect(p.getByTestId('error-token')).toContainText('this link is not valid');
  await noJs.close();
});
