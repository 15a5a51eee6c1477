import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminWorld, seed, TOKEN, type AdminWorld } from '../app/admin-fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/dashboard/', import.meta.url));
const available = existsSync(CHROMIUM);
if (!available) {
  const message = `${CHROMIUM} is missing (Debian package chromium)`;
  if (process.env.WEIR_REQUIRE_SERVICES === '1') throw new Error(`${message}, and WEIR_REQUIRE_SERVICES=1 requires it (dashboard tests).`);
  const bar = '!'.repeat(78);
  console.warn(`\n${bar}\n!! SKIPPED: dashboard tests in a real browser\n!! because ${message}.\n!! (CI installs it and sets WEIR_REQUIRE_SERVICES=1.)\n${bar}\n`);
}

describe.skipIf(!available)('dashboard in Chromium', () => {
  let w: AdminWorld;
  let s: Awaited<ReturnType<typeof seed>>;
  let stopTraffic: () => Promise<void>;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    w = await adminWorld();
    s = await seed(w);
    stopTraffic = w.traffic();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
  }, 60_000);

  afterAll(async () => {
    await stopTraffic?.();
    await browser?.close();
    await w?.close();
  });

  const shot = (name: string): Promise<Buffer> => page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
  const tab = async (name: string): Promise<void> => {
    await page.getByTestId(`tab-${name}`).click();
    await expect.poll(() => page.getByTestId(`tab-${name}`).getAttribute('aria-selected')).toBe('true');
  };

  it('asks for the admin token: a wrong one shows an error, the right one opens the overview', async () => {
    await page.goto(w.url);
    await page.getByTestId('login').waitFor({ state: 'visible' });
    expect(await page.getByTestId('app').isHidden()).toBe(true);
    await shot('login');
    await page.getByTestId('token-input').fill('wrong-token-for-tests-123');
    await page.getByTestId('login-submit').click();
    await page.getByTestId('login-error').waitFor({ state: 'visible' });
    expect(await page.getByTestId('login-error').textContent()).toContain('Wrong token');
    expect(await page.getByTestId('app').isHidden()).toBe(true);
    await page.getByTestId('token-input').fill(TOKEN);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('app').waitFor({ state: 'visible' });
    expect(await page.getByTestId('login').isHidden()).toBe(true);
    expect(await page.getByTestId('tab-overview').getAttribute('aria-selected')).toBe('true');
    // The token lives in sessionStorage: a reload stays signed in.
    await page.reload();
    await page.getByTestId('app').waitFor({ state: 'visible' });
  });

  it('fills the overview: cards from the admin API, line charts from the traffic through the app connections', async () => {
    const value = (id: string) => page.getByTestId(id).locator('[data-role=value]').textContent();
    await expect.poll(() => value('card-dead-letters')).toBe('1');
    await expect.poll(() => value('card-escalations')).toBe('2');
    expect(await value('card-queue-depth')).toMatch(/^\d+$/);
    // 5-second buckets: after a few seconds each series is a path of several points.
    const points = async (chart: string): Promise<number[]> =>
      Promise.all((await page.locator(`#chart-${chart} path.series`).all()).map(async (p) => Number(await p.getAttribute('data-points'))));
    await expect.poll(async () => Math.min(...(await points('throughput'))), { timeout: 30_000, interval: 500 }).toBeGreaterThanOrEqual(3);
    expect(await page.locator('#chart-throughput path.series').count()).toBe(3); // crm, esp, billing
    expect(await page.locator('#chart-throughput path.series').first().getAttribute('d')).toMatch(/^M[\d.]+ [\d.]+ L/);
    await expect.poll(async () => (await points('errors')).length).toBe(3);
    await expect.poll(async () => (await points('latency')).length).toBe(6); // p50 and p95 per system
    expect(await page.locator('#legend-latency').textContent()).toContain('billing p95');
    // The billing API fails every fourth call: its error line rises above zero.
    const billingErrors = page.locator('#chart-errors path.series[data-series=billing]');
    expect(await billingErrors.count()).toBe(1);
    await shot('overview');
  });

  it('shows connections with breaker state and budgets', async () => {
    await tab('connections');
    await expect.poll(() => page.getByTestId('connection-row').count()).toBe(3);
    const crm = page.locator('[data-testid=connection-row][data-name=crm]');
    expect(await crm.textContent()).toContain('closed');
    expect(await crm.textContent()).toContain(w.crm.url);
    // The billing API sends X-RateLimit-* headers: its budget is shown.
    await expect.poll(() => page.locator('[data-testid=connection-row][data-name=billing]').textContent()).toMatch(/\d+ \/ 600 left/);
    await shot('connections');
  });

  it('replays a dead letter: the row disappears, and the admin API sees it handled', async () => {
    await tab('queues');
    const row = page.locator(`[data-testid=dlq-row][data-id="${s.deadId}"]`);
    await row.waitFor({ state: 'visible' });
    expect(await row.textContent()).toContain('mailbox rejected the welcome email');
    await shot('queues');
    w.failing = false;
    await row.getByTestId('dlq-replay').click();
    await row.waitFor({ state: 'detached' });
    await expect.poll(() => w.delivered.length).toBe(1);
    expect((await w.call('GET', '/dlq')).body.count).toBe(0);
    expect(await page.locator('#dlq-table').textContent()).toContain('No dead letters.');
  });

  it('searches the audit trail by system and by correlation id', async () => {
    await tab('audit');
    await expect.poll(() => page.getByTestId('audit-row').count()).toBeGreaterThan(0);
    await page.getByTestId('audit-system').selectOption('esp');
    await page.getByTestId('audit-search').click();
    await expect.poll(async () => (await page.getByTestId('audit-row').allTextContents()).every((t) => t.includes('esp') && !t.includes('crm'))).toBe(true);
    expect(await page.getByTestId('audit-row').count()).toBeGreaterThan(0);
    await shot('audit');
    await (await w.app.connections.get('crm')?.get('/records', { correlationId: 'dash-corr-1' }))?.body.dump();
    await page.getByTestId('audit-system').selectOption('');
    await page.getByTestId('audit-correlation').fill('dash-corr-1');
    await page.getByTestId('audit-search').click();
    await expect.poll(() => page.getByTestId('audit-row').count()).toBe(1);
    expect(await page.getByTestId('audit-row').textContent()).toContain('GET /records');
  });

  it('lists conflicts with both values and the policy', async () => {
    await tab('conflicts');
    const conflicts = (await w.call('GET', '/conflicts')).body as unknown[];
    expect(conflicts.length).toBeGreaterThanOrEqual(2);
    await expect.poll(() => page.getByTestId('conflict-row').count()).toBe(conflicts.length);
    expect(await page.locator('#conflicts-table thead').textContent()).toContain('CRM value');
    expect(await page.locator('#conflicts-table').textContent()).toContain('crm_authoritative');
    await shot('conflicts');
  });

  it('resolves escalations with Keep CRM / Keep ESP, verified through the admin API', async () => {
    await tab('escalations');
    await expect.poll(() => page.locator('[data-testid=escalation-row][data-state=open]').count()).toBe(2);
    await shot('escalations');
    const [reconsent, name] = (await w.call('GET', '/escalations?state=open')).body as { id: string; kind: string }[];
    expect(reconsent?.kind).toBe('reconsent_required');
    await page.locator(`[data-testid=escalation-row][data-id="${reconsent?.id}"]`).getByTestId('resolve-crm').click();
    await expect.poll(async () => (await w.call('GET', `/escalations/${reconsent?.id}`)).body.state).toBe('resolved');
    expect((await w.call('GET', `/escalations/${reconsent?.id}`)).body.resolution).toMatchObject({ choose: 'crm' });
    expect(w.esp.records.get(s.r7.r)?.subscription).toBe('unsubscribed');
    await page.locator(`[data-testid=escalation-row][data-id="${name?.id}"]`).getByTestId('resolve-esp').click();
    await expect.poll(async () => (await w.call('GET', `/escalations/${name?.id}`)).body.state).toBe('resolved');
    expect(w.crm.records.get(s.r5.l)?.name).toBe('Bo from ESP');
    await expect.poll(() => page.locator('#escalations-table').textContent()).toContain('No open escalation');
    expect(await page.getByTestId('escalation-row').count()).toBe(0);
  });

  it('starts a dry-run reconciliation and shows its report', async () => {
    await tab('reconciliations');
    await page.getByTestId('recon-dry-run').click();
    await page.locator('[data-testid=recon-row][data-state=done]').first().waitFor({ state: 'visible', timeout: 20_000 });
    await expect.poll(() => page.getByTestId('recon-report').textContent()).toContain('missing remote');
    expect(await page.getByTestId('recon-report').textContent()).toContain(s.unsynced);
    const [run] = (await w.call('GET', '/reconciliations')).body as { mode: string; state: string }[];
    expect(run).toMatchObject({ mode: 'dry_run', state: 'done' });
    await shot('reconciliations');
  });

  it('lists saga runs, then signs out', async () => {
    await tab('sagas');
    await expect.poll(() => page.getByTestId('saga-row').count()).toBe(2);
    expect(await page.locator('#sagas-table').textContent()).toContain('compensated');
    await shot('sagas');
    await page.getByTestId('logout').click();
    await page.getByTestId('login').waitFor({ state: 'visible' });
    await page.reload();
    await page.getByTestId('login').waitFor({ state: 'visible' });
    expect(await page.getByTestId('app').isHidden()).toBe(true);
  });
});
