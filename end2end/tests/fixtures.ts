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
