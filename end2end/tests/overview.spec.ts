import { test, expect, waitForHydration, signUp, signUpVerified } from './fixtures';
import { serverCli } from './cli';

// The operator's overview at /admin: its charts are drawn in the server render, so they show
// with JavaScript off, and each carries its numbers as a table for screen readers.

test('the overview shows its figures and charts before any script runs', async ({ page, browser }, info) => {
  const project = info.project.name;
  const email = `overview-${project}-${Date.now()}@example.com`;
  await signUpVerified(page, email);
  serverCli(project, ['admin', 'promote', '--email', email]);
  serverCli(project, ['access', 'grant', '--email', email, '--tier', 'pro', '--days', '30', '--reason', 'e2e']);

  await page.goto('/admin');
  await waitForHydration(page);
  await expect(page.getByRole('heading', { name: 'Overview', level: 1 })).toBeVisible();
  await expect(page.getByTestId('active-by-tier')).toContainText('Pro');

  const noJs = await browser.newContext({ javaScriptEnabled: false });
  await noJs.addCookies(await page.context().cookies());
  const p = await noJs.newPage();
  await p.goto('/admin');
  await expect(p.getByTestId('active-by-tier')).toContainText('Pro');
  for (const chart of ['chart-purchases', 'chart-expiries', 'chart-signals']) {
    await expect(p.getByTestId(chart).locator('svg')).toBeVisible();
    // The table is for screen readers: in the page, not on the screen.
    await expect(p.getByTestId(`${chart}-table`).locator('tbody tr')).toHaveCount(30);
  }
  await noJs.close();
});
