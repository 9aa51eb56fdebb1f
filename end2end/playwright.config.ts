import { defineConfig } from '@playwright/test';

// Each project runs the whole suite against its own server process and database.
const backends = [
  { name: 'sqlite', port: 3210 },
  { name: 'postgres', port: 3211 },
];
// The deployment layout (deploy/): nginx on this port in front of two servers and two bots on one
// PostgreSQL database (deploy.sh). It runs only the deployment smoke test. Its ports (+1, +2, +10,
// +20, +30) stay clear of the two projects above (theirs are +0, +10, +20, +30).
const deploy = { name: 'deploy', port: 3250 };
const smoke = /deploy\.spec\.ts/;

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [['list'], ['html', { open: 'never' }]],
  use: {
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    },
  },
  projects: [
    ...backends.map((b) => ({
      name: b.name,
      testIgnore: smoke,
      use: { baseURL: `http://127.0.0.1:${b.port}` },
    })),
    { name: deploy.name, testMatch: smoke, use: { baseURL: `http://127.0.0.1:${deploy.port}` } },
  ],
  webServer: [
    ...backends.map((b) => ({
      command: `bash serve.sh ${b.name} ${b.port}`,
      url: `http://127.0.0.1:${b.port}/readyz`,
      timeout: 60_000,
      reuseExistingServer: false,
      stdout: 'ignore' as const,
      stderr: 'pipe' as const,
    })),
    {
      command: `bash deploy.sh ${deploy.port}`,
      url: `http://127.0.0.1:${deploy.port}/readyz`,
      timeout: 90_000,
      reuseExistingServer: false,
      stdout: 'ignore' as const,
      stderr: 'pipe' as const,
    },
  ],
});
