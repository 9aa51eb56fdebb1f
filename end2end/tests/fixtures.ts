import { test as base, expect, Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';

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

/** The mail the project's SMTP sink caught for `to` (see serve.sh: sink HTTP port = server port + 20). */
export async function mailsTo(page: Page, to: string): Promise<{ subject: string; text: string }[]> {
  const port = Number(new URL(page.url() === 'about:blank' ? test.info().project.use.baseURL! : page.url()).port) + 20;
  const res = await page.request.get(`http://127.0.0.1:${port}/mails?to=${encodeURIComponent(to)}`);
  return res.json();
}

/** The first link in the newest mail to `to` whose path starts with `path`, waiting for it to arrive. */
export async function mailedLink(page: Page, to: string, path: string): Promise<string> {
  let link = '';
  await expect
    .poll(async () => {
      const mails = await mailsTo(page, to);
      const text = mails.map((m) => m.text).reverse().find((t) => t.includes(path)) ?? '';
      link = text.match(new RegExp(`https?://\\S*${path.replace('?', '\\?')}\\S*`))?.[0] ?? '';
      return link;
    })
    .not.toBe('');
  return link;
}

/** Confirms the address from the verification mail, as its owner would. */
export async function verifyEmail(page: Page, email: string) {
  await page.goto(await mailedLink(page, email, '/verify-email?token='));
  await waitForHydration(page);
  await page.getByTestId('verify-email').click();
  await expect(page).toHaveURL(/\/account\?verified=1$/);
  await expect(page.getByTestId('verify-notice')).toHaveCount(0);
}

/** Signs up and verifies the address: paid time reaches only verified accounts. */
export async function signUpVerified(page: Page, email: string) {
  await signUp(page, email);
  await verifyEmail(page, email);
}

/** Signs up through the form and waits for the account page. */
export async function signUp(page: Page, email: string) {
  await page.goto('/signup');
  await waitForHydration(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByTestId('sign-up').click();
  await expect(page).toHaveURL(/\/account$/);
}

/** What axe-core (every rule it runs by default: WCAG 2.x A/AA and best practice) finds serious or
 *  critical on the page as it stands, one readable line per problem: an empty list passes. */
export async function seriousA11yProblems(page: Page): Promise<string[]> {
  const { violations } = await new AxeBuilder({ page }).analyze();
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${page.url()} ${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
}
