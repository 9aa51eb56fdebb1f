import type { APIRequestContext, Page } from '@playwright/test';
import { expect } from './fixtures';

/** The fake Discord serve.sh and deploy.sh start beside the server (port + 30). */
export function fakeDiscord(baseURL: string): string {
  return `http://127.0.0.1:${Number(new URL(baseURL).port) + 30}`;
}

/** The roles the fake Discord says a member holds; null when not a member. */
export async function memberRoles(request: APIRequestContext, baseURL: string, username: string): Promise<string[] | null> {
  const state = await (await request.get(`${fakeDiscord(baseURL)}/_fake/state`)).json();
  const member = state.guilds[0].members.find((m: { username: string | null }) => m.username === username);
  return member ? member.roles : null;
}

/** Links Discord from /account: Discord's own page (the fake) as `username`, then back. */
export async function linkDiscord(page: Page, username: string) {
  await page.goto('/account');
  await page.getByTestId('discord-link').click();
  await expect(page.getByRole('heading', { name: 'Fake Discord' })).toBeVisible();
  await page.getByLabel('Discord username').fill(username);
  await page.getByRole('button', { name: 'Authorize' }).click();
  await expect(page).toHaveURL(/\/account\?discord=linked/);
}
