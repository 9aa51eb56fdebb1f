import { test, expect, waitForHydration, signUp, signUpVerified } from './fixtures';
import { serverCli } from './cli';
import { createPolicy, sellappWebhook } from './sellapp';

test('a policy, a signed payment and a refund drive the customer access panel', async ({ page, browser, request }, info) => {
  const product = 7000 + (Date.now() % 1000);
  const order = Date.now() % 1_000_000;
  const admin = `boss-${info.project.name}-${Date.now()}@example.com`;
  await signUp(page, admin);
  serverCli(info.project.name, ['admin', 'promote', '--email', admin]);

  await createPolicy(page, product, 'Pro', 30);

  const customerContext = await browser.newContext();
  const customer = await customerContext.newPage();
  const email = `buyer-${info.project.name}-${Date.now()}@example.com`;
  await signUpVerified(customer, email);
  await customer.goto('/account');
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
