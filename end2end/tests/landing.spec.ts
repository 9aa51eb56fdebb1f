import { test, expect, waitForHydration } from './fixtures';

test('landing page is readable before hydration', async ({ browser }) => {
  // No JavaScript at all: what a visitor sees before (or without) the wasm.
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto('/');
  await expect(page.getByTestId('product-name')).toHaveText('SignalDesk');
  await expect(page.locator('.plan h3')).toHaveText(['Basic', 'Advanced', 'Pro']);
  await expect(page.getByRole('link', { name: 'Sign in' })).toHaveAttribute('href', '/login');
  await context.close();
});

test('landing page hydrates and the status check calls the server', async ({ page }) => {
  await page.goto('/');
  await waitForHydration(page);
  await expect(page).toHaveTitle('SignalDesk');
  const result = page.getByTestId('status-result');
  await expect(result).toHaveText('');
  await page.getByTestId('check-status').click();
  await expect(result).toContainText('Operational:');
  await expect(result).toContainText('3 plans on sale');
  // Still on the same page: the server function ran inline, not as a form navigation.
  await expect(page).toHaveURL(/\/$/);
});

test('unknown pages show a not-found page', async ({ page }) => {
  const res = await page.goto('/definitely/not/here');
  expect(res?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
});
