import { test as base, expect, Page } from '@playwright/test';

// Every test fails on an uncaught page error or a Rust panic in the console, and can wait
// for hydration: server-rendered buttons exist before the wasm handles their clicks.
export const test = base.extend<{ failOnErrors: void }>({
  failOnErrors: [
    async ({ page }, use) => {
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error' && /panicked|RuntimeError|unreachable/.test(m.text())) {
          problems.push(`console: ${m.text()}`);
        }
      });
      await use();
      expect(problems, 'page errors or panics').toEqual([]);
    },
    { auto: true },
  ],
});

export async function waitForHydration(page: Page) {
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true');
}

export { expect };

export const PASSWORD = 'correct horse battery staple';

/** Signs up through the form and waits for the account page. */
export async function signUp(page: Page, email: string) {
  await page.goto('/signup');
  await waitForHydration(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByTestId('sign-up').click();
  await expect(page).toHaveURL(/\/account$/);
}
