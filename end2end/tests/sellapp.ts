import { createHmac } from 'node:crypto';
import type { APIRequestContext, Page } from '@playwright/test';
import { expect, waitForHydration } from './fixtures';

const SECRET = 'e2e-webhook-secret'; // end2end/serve.sh gives the server the same one

/** Plays Sell.app: posts a signed webhook for an order. */
export async function sellappWebhook(request: APIRequestContext, event: string, id: number, email: string, status: string, product: number) {
  const body = JSON.stringify({
    event, store: 1,
    data: { id, status: { status: { status } }, customer_information: { email, id: null }, products: [{ id: product }] },
  });
  const signature = createHmac('sha256', SECRET).update(body).digest('hex');
  const res = await request.post('/api/v1/webhooks/sellapp', {
    headers: { 'content-type': 'application/json', signature },
    data: body,
  });
  expect(res.status()).toBe(200);
}

/** An admin (signed in on `page`) says what a product buys on /admin/policies. */
export async function createPolicy(page: Page, product: number, tier: string, days: number) {
  await page.goto('/admin/policies');
  await waitForHydration(page);
  await page.getByLabel('Sell.app product id', { exact: true }).fill(String(product));
  await page.getByLabel('Tier', { exact: true }).selectOption({ label: tier });
  await page.getByLabel('Days', { exact: true }).fill(String(days));
  await page.getByTestId('create-policy').click();
  await expect(page.getByTestId('policy').filter({ hasText: String(product) })).toContainText(tier);
}
