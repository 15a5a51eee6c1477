/**
 * The flagship: a two-way sync between a CRM and an email service provider (ESP), built only from
 * Weir's public API. Run it with `weir start --config examples/crm-esp/weir.config.ts` against any
 * CRM and ESP that speak the contract's APIs, or `weir demo` against Weir's own simulators.
 * See README.md next to this file, and docs/flagship.md.
 */
import { defineConfig, env } from 'weir/app';
import { crmAdapter, crmConnection } from './crm.js';
import { espAdapter, espConnection } from './esp.js';
import { contactsSync } from './sync.js';
import { mountWebhooks } from './webhooks.js';

/** Every environment variable the flagship reads (contract §1). */
export const flagshipEnv = [
  'CRM_BASE_URL',
  'CRM_CLIENT_ID',
  'CRM_CLIENT_SECRET',
  'CRM_REFRESH_TOKEN',
  'CRM_WEBHOOK_SECRET',
  'ESP_BASE_URL',
  'ESP_API_KEY',
  'ESP_WEBHOOK_SECRET',
  'WEIR_HOOK_PORT',
  'WEIR_ADMIN_PORT',
  'WEIR_ADMIN_TOKEN',
  'WEIR_ALERT_WEBHOOK_URL',
  'WEIR_DATA_DIR',
  'WEIR_POLL_INTERVAL_MS',
] as const;

/** When the nightly reconciliation runs (UTC): a full compare of both systems, repaired through the same policies. */
export const RECONCILE_CRON = '15 3 * * *';

export default defineConfig({
  name: 'crm-esp',
  env: {
    CRM_BASE_URL: env.url(),
    CRM_CLIENT_ID: env.string(),
    CRM_CLIENT_SECRET: env.secret(),
    CRM_REFRESH_TOKEN: env.secret(),
    CRM_WEBHOOK_SECRET: env.secret(),
    ESP_BASE_URL: env.url(),
    ESP_API_KEY: env.secret(),
    ESP_WEBHOOK_SECRET: env.secret(),
    WEIR_HOOK_PORT: env.port(),
    WEIR_ADMIN_PORT: env.port(),
    WEIR_ADMIN_TOKEN: env.secret({ minLength: 8 }),
    WEIR_ALERT_WEBHOOK_URL: env.url(),
    WEIR_DATA_DIR: env.path(),
    WEIR_POLL_INTERVAL_MS: env.int({ default: 30_000, min: 100 }),
  },
  dataDir: (e) => e.WEIR_DATA_DIR,
  hooks: (e) => ({ port: e.WEIR_HOOK_PORT }),
  admin: (e) => ({ port: e.WEIR_ADMIN_PORT, token: e.WEIR_ADMIN_TOKEN }),
  alerts: (e) => ({ url: e.WEIR_ALERT_WEBHOOK_URL }),

  async setup(app, e) {
    const crm = crmAdapter(crmConnection(app, { baseUrl: e.CRM_BASE_URL, clientId: e.CRM_CLIENT_ID, clientSecret: e.CRM_CLIENT_SECRET, refreshToken: e.CRM_REFRESH_TOKEN }));
    const esp = espAdapter(espConnection(app, { baseUrl: e.ESP_BASE_URL, apiKey: e.ESP_API_KEY }));
    const contacts = app.sync(contactsSync(crm, esp));

    // Webhooks: the fast path.
    mountWebhooks(app, contacts, { crm: e.CRM_WEBHOOK_SECRET, esp: e.ESP_WEBHOOK_SECRET });
    // Cursor polling of both systems: the safety net for lost webhooks (checkpointed in the store).
    app.every('poll:crm', e.WEIR_POLL_INTERVAL_MS, () => contacts.intake.poll('left'), { immediately: true });
    app.every('poll:esp', e.WEIR_POLL_INTERVAL_MS, () => contacts.intake.poll('right'), { immediately: true });
    // Reconciliation: nightly, and on demand from the admin API (`POST /reconciliations`).
    await app.reconciliation(contacts, { cron: RECONCILE_CRON, mode: 'apply' });
  },
});
