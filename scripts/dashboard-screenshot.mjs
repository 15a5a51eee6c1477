// Takes the README's dashboard screenshot from a real flagship demo run:
//   npm run build && node scripts/dashboard-screenshot.mjs [out.png]
// Starts `weir demo` (no --exit), logs in to the printed dashboard with the printed token in Debian's
// Chromium (playwright-core), waits until the fault schedule has played, and saves the overview.
import { spawn } from 'node:child_process';
import { chromium } from 'playwright-core';

const out = process.argv[2] ?? 'docs/images/dashboard.png';
const demo = spawn(process.execPath, ['dist/cli/bin.js', 'demo', '--customers', '120'], { stdio: ['ignore', 'pipe', 'inherit'] });
let text = '';
const found = await new Promise((resolve, reject) => {
  demo.stdout.on('data', (chunk) => {
    text += chunk;
    const url = /dashboard\s+(http\S+)/.exec(text)?.[1];
    const token = /admin token\s+(\S+)/.exec(text)?.[1];
    if (url !== undefined && token !== undefined) resolve({ url, token });
  });
  demo.once('exit', (code) => reject(new Error(`demo exited with ${code}`)));
});
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  await page.goto(found.url);
  await page.getByTestId('token-input').fill(found.token);
  await page.getByTestId('login-submit').click();
  // The schedule: storms at 6–11 s, the ESP outage at 14–20 s, conflicting edits until 36 s.
  await new Promise((r) => setTimeout(r, 38_000));
  await page.screenshot({ path: out });
  console.log(`saved ${out}`);
} finally {
  await browser.close();
  demo.kill('SIGTERM');
}
