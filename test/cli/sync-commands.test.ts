import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestSystem } from '../sync/systems.js';
import { requireBuild, root, weir } from './run-cli.js';

/**
 * `weir reconcile` and `weir escalations` against a small app config written here: the sync of
 * test/sync (CRM left, ESP right, the contract's policies) over two test systems run by this file.
 */
const CONFIG = `
import { defineConfig, env } from '${root}dist/app/index.js';
import { authoritative, equivalent, escalate, lastWriterWins, sticky } from '${root}dist/sync/index.js';
import { adapter } from '${root}test/sync/systems.ts';

const unsubscribed = (v) => typeof v === 'string' && v.startsWith('unsubscribed');

export default defineConfig({
  name: 'sync-commands',
  env: { CRM_URL: env.url(), ESP_URL: env.url(), WEIR_DATA_DIR: env.path() },
  dataDir: (e) => e.WEIR_DATA_DIR,
  setup(app, e) {
    app.sync({
      name: 'contacts',
      left: adapter('crm', { url: e.CRM_URL }),
      right: adapter('esp', { url: e.ESP_URL }),
      fields: {
        email: authoritative('left', { name: 'crm_authoritative' }),
        name: [lastWriterWins({ clock: 'server-date', skewMarginMs: 1000 }), escalate('other')],
        consent: [
          equivalent((l, r) => unsubscribed(l) && unsubscribed(r), { name: 'both_unsubscribed' }),
          sticky('unsubscribed:user', { side: 'right', origin: (r) => r.unsubscribe_origin === 'user', escalate: 'reconsent_required', name: 'unsubscribe_wins' }),
          authoritative('left'),
        ],
      },
      create: { right: (f) => f.consent === 'subscribed' },
      pageSize: 2,
    });
  },
});
`;

let dir: string;
let crm: TestSystem;
let esp: TestSystem;
let env: Record<string, string>;
const c = (): string[] => ['--config', join(dir, 'weir.config.ts')];

interface Report {
  mode: string;
  state: string;
  compared: number;
  diffs_by_class: Record<string, number>;
  repairs: { attempted: number; succeeded: number; failed: number };
  api_calls: Record<string, number>;
  items: Array<Record<string, string>>;
}

beforeAll(async () => {
  requireBuild();
  dir = mkdtempSync(join(tmpdir(), 'weir-cli-sync-'));
  writeFileSync(join(dir, 'weir.config.ts'), CONFIG);
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  crm = await new TestSystem('crm').start();
  esp = await new TestSystem('esp').start();
  env = { CRM_URL: crm.url, ESP_URL: esp.url, WEIR_DATA_DIR: join(dir, 'data') };
  for (const n of [1, 2, 3]) crm.put({ email: `Person${n}@Example.com`, name: `Person ${n}`, marketing_opt_in: true });
  crm.put({ email: 'quiet@example.com', name: 'Quiet', marketing_opt_in: false });
  esp.put({ email: 'esp-only@example.com', name: 'Only in the ESP' });
});

afterAll(async () => {
  await crm?.stop();
  await esp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('weir reconcile', () => {
  it('a dry run reports what differs and writes nothing', { timeout: 60_000 }, async () => {
    const res = await weir(['reconcile', 'contacts', ...c(), '--json'], { env });
    expect(res.code).toBe(0);
    const r = JSON.parse(res.stdout) as Report;
    expect(r).toMatchObject({ mode: 'dry_run', state: 'done', compared: 5 });
    expect(r.diffs_by_class).toMatchObject({ missing_remote: 3, unlinked_remote: 1, field_drift: 0, duplicate: 0 });
    expect(r.items.filter((i) => i.class === 'missing_remote').map((i) => i.action)).toEqual(['create', 'create', 'create']);
    expect(r.items.find((i) => i.class === 'unlinked_remote')).toMatchObject({ esp_id: 'esp_0001', action: 'report_only' });
    expect(Object.keys(r.api_calls).toSorted()).toEqual(['crm', 'esp']);
    expect(r.repairs.attempted).toBe(0);
    expect(esp.records.size).toBe(1);
    // Progress (counts as pages go) is on stderr, plain lines off a terminal.
    expect(res.stderr).not.toContain('\u001b');
  });

  it('--apply repairs through the policies; a second apply finds nothing', { timeout: 60_000 }, async () => {
    const res = await weir(['reconcile', 'contacts', ...c(), '--apply', '--json'], { env });
    expect(res.code).toBe(0);
    const r = JSON.parse(res.stdout) as Report;
    expect(r.repairs).toEqual({ attempted: 3, succeeded: 3, failed: 0 });
    const created = [...esp.records.values()].filter((x) => x.external_id !== null);
    expect(created.map((x) => x.email).toSorted()).toEqual(['person1@example.com', 'person2@example.com', 'person3@example.com']);
    expect(created.every((x) => x.subscription === 'subscribed')).toBe(true);

    const again = await weir(['reconcile', 'contacts', ...c(), '--apply'], { env });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^reconcile contacts \(apply\): done/);
    expect(again.stdout).toMatch(/repairs: 0 attempted/);
    expect(again.stdout).toMatch(/diffs: missing_remote 0 · unlinked_remote 1 · missing_link 0 · field_drift 0 · duplicate 0/);
    expect(again.stdout).toMatch(/^CLASS\s+CRM ID\s+ESP ID\s+FIELD\s+ACTION$/m);
  });

  it('an unknown sync is a usage error listing the known ones', { timeout: 60_000 }, async () => {
    const res = await weir(['reconcile', 'customers', ...c()], { env });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/No sync "customers" \(known: contacts\)/);
    const bad = await weir(['reconcile', 'contacts', ...c()], { env: { ...env, ESP_URL: 'not a url' } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/ESP_URL: must be an absolute http\(s\) URL/);
  });
});

describe('weir escalations', () => {
  let id: string;

  it('lists the escalation a conflict raised, as a table and as JSON', { timeout: 60_000 }, async () => {
    // The same field edited on both sides at the same instant: too close to call, a person decides.
    const crmRec = [...crm.records.values()].find((x) => x.email === 'Person1@Example.com');
    const espRec = [...esp.records.values()].find((x) => x.external_id === crmRec?.id);
    if (crmRec === undefined || espRec === undefined) throw new Error('seed missing');
    const at = Date.now();
    crm.edit(crmRec.id, { name: 'Name from the CRM' }, 'user', at);
    esp.edit(espRec.id, { name: 'Name from the ESP' }, 'user', at);
    const rec = await weir(['reconcile', 'contacts', ...c(), '--apply', '--json'], { env });
    expect(rec.code).toBe(0);
    expect((JSON.parse(rec.stdout) as { escalations_raised: number }).escalations_raised).toBe(1);

    const list = await weir(['escalations', 'list', ...c(), '--state', 'open', '--json'], { env });
    expect(list.code).toBe(0);
    const items = JSON.parse(list.stdout) as Array<Record<string, unknown>>;
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      sync: 'contacts',
      kind: 'other',
      crm_id: crmRec.id,
      esp_id: espRec.id,
      field: 'name',
      crm_value: 'Name from the CRM',
      esp_value: 'Name from the ESP',
      state: 'open',
    });
    id = items[0]?.id as string;

    const table = await weir(['escalations', 'list', ...c()], { env });
    expect(table.stdout).toMatch(/^ID\s+KIND\s+CRM ID\s+ESP ID\s+FIELD\s+CRM\s+ESP\s+CREATED\s+STATE$/m);
    expect(table.stdout).toContain(id);
    expect((await weir(['escalations', 'list', ...c(), '--state', 'resolved'], { env })).stdout).toBe('No resolved escalations.\n');
  });

  it('resolves one in favour of a side: the value is written to the other side', { timeout: 60_000 }, async () => {
    const badChoice = await weir(['escalations', 'resolve', id, '--choose', 'mailchimp', ...c()], { env });
    expect(badChoice.code).toBe(2);
    expect(badChoice.stderr).toMatch(/--choose.*crm, esp, value or dismiss/);
    const noValue = await weir(['escalations', 'resolve', id, '--choose', 'value', ...c()], { env });
    expect(noValue.code).toBe(2);

    const res = await weir(['escalations', 'resolve', id, '--choose', 'crm', ...c()], { env });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^resolved .* \(other, name of crm_\d+\): "Name from the CRM" written to esp$/m);
    const espRec = [...esp.records.values()].find((x) => x.name === 'Name from the CRM');
    expect(espRec?.external_id).toMatch(/^crm_/);

    const resolved = JSON.parse((await weir(['escalations', 'list', ...c(), '--state', 'resolved', '--json'], { env })).stdout) as Array<Record<string, unknown>>;
    expect(resolved.map((e) => e.id)).toEqual([id]);
    expect(resolved[0]).toMatchObject({ state: 'resolved', resolution: { choose: 'crm', written: ['esp'] } });

    const again = await weir(['escalations', 'resolve', id, '--choose', 'crm', ...c(), '--json'], { env });
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout)).toMatchObject({ error: { code: 'WEIR_INVALID_STATE' } });
    const missing = await weir(['escalations', 'resolve', 'no-such-id', '--choose', 'crm', ...c()], { env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('WEIR_NOT_FOUND');
  });
});
