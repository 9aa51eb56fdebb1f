import { createHmac } from 'node:crypto';
import type { APIRequestContext, Page } from '@playwright/test';
import { test, expect, waitForHydration, signUp, PASSWORD } from './fixtures';
import { serverCli } from './cli';

const SECRET = 'e2e-webhook-secret'; // end2end/serve.sh gives the server the same one


/** Plays Sell.app: posts a signed webhook for an order. */
async function sellappWebhook(request: APIRequestContext, event: string, id: number, email: string, status: string, product: number) {
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

test('a policy, a signed payment and a refund drive the customer access panel', async ({ page, browser, request }, info) => {
  const product = 7000 + (Date.now() % 1000);
  const order = Date.now() % 1_000_000;
  const admin = `boss-${info.project.name}-${Date.now()}@example.com`;
  await signUp(page, admin);
  serverCli(info.project.name, ['admin', 'promote', '--email', admin]);

  await page.goto('/admin/policies');
  await waitForHydration(page);
  await page.getByLabel('Sell.app product id').fill(String(product));
  await page.getByLabel('Tier').selectOption({ label: 'Pro' });
  await page.getByLabel('Days').fill('30');
  await page.getByTestId('create-policy').click();
  await expect(page.getByTestId('policy').filter({ hasText: String(product) })).toContainText('Pro');

  const customerContext = await browser.newContext();
  const customer = await customerContext.newPage();
  const email = `buyer-${info.project.name}-${Date.now()}@example.com`;
  await signUp(customer, email);
  await expect(customer.getByTestId('no-access')).toBeVisible();

  await sellappWebhook(request, 'order.completed', order, email, 'COMPLETED', product);
  await expect
    .poll(async () => {
      await customer.reload();
      return customer.getByTestId('access-tier').textContent({ timeout: 1000 }).catch(() => null);
    })
    .toBe('Pro');
  await waitForHydration(customer);
  const countdown = customer.getByTestId('countdown');
  await expect(countdown).toHaveText(/^29d 23h 5\dm \d\ds$/);
  const first = Number(await countdown.getAttribute('data-seconds'));
  await expect.poll(async () => Number(await countdown.getAttribute('data-seconds'))).toBeLessThan(first);
  await expect(customer.getByTestId('orders')).toContainText(`Order #${order}`);

  await sellappWebhook(request, 'order.updated', order, email, 'REFUNDED', product);
  await expect
    .poll(async () => {
      await customer.reload();
      return customer.getByTestId('no-access').isVisible();
    })
    .toBe(true);
  await expect(customer.getByTestId('orders')).toContainText('taken back');
  await customerContext.close();
});
