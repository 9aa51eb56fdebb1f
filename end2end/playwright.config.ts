import { defineConfig } from '@playwright/test';

// Each project runs the whole suite against its own server process and database.
const backends = [
  { name: 'sqlite', port: 3210 },
  { name: 'postgres', port: 3211 },
];

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
  projects: backends.map((b) => ({
    name: b.name,
    use: { baseURL: `http://127.0.0.1:${b.port}` },
  })),
  webServer: backends.map((b) => ({
    command: `bash serve.sh ${b.name} ${b.port}`,
    url: `http://127.0.0.1:${b.port}/readyz`,
    timeout: 60_000,
    reuseExistingServer: false,
    stdout: 'ignore',
    stderr: 'pipe',
  })),
});
