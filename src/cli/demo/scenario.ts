import { seededRandom } from '../../testing/seeded-random.js';
import type { Contact, CrmSimulator, Customer, EspSimulator } from '../../testing/simulators/exports.js';
import { type ForgedWebhooks, type ForgeTarget, planRules, type ScriptContext, sendForged } from './rules.js';

export type { ForgedWebhooks } from './rules.js';

/**
 * The flagship demo's script: what the people using both systems do and which faults hit, on a
 * timeline scaled to the demo's duration and drawn from the seed. Everything happens on the
 * simulators (user actions, fault injection); Weir only sees the resulting API behaviour and webhooks.
 */

/** A named stretch of the timeline, for the progress line and the report. */
export interface ScenarioPhase {
  readonly name: string;
  readonly fromMs: number;
  readonly toMs: number;
}

/** A scripted moment: a rule of the contract exercised, or a fault injected. */
export interface ScenarioEvent {
  readonly atMs: number;
  /** `R5`, `fault`, … */
  readonly tag: string;
  readonly description: string;
}

interface Timed {
  readonly atMs: number;
  readonly tag: string;
  readonly description: string;
  /** Runs it; returns false to be retried a little later (its customer is not ready yet). */
  readonly run: () => boolean;
}

const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Margaret', 'Ken', 'Frances', 'Tim', 'Radia', 'Linus', 'Hedy', 'John', 'Katherine', 'Dennis'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Hamilton', 'Thompson', 'Allen', 'Berners-Lee', 'Perlman', 'Torvalds', 'Lamarr', 'Backus', 'Johnson', 'Ritchie'];

/** Phase boundaries, as fractions of the duration. */
const PHASES: ReadonlyArray<readonly [string, number, number]> = [
  ['seeding customers', 0, 0.1],
  ['steady traffic', 0.1, 0.15],
  ['ESP 429 storm', 0.15, 0.22],
  ['CRM 429 storm', 0.22, 0.27],
  ['steady traffic', 0.27, 0.35],
  ['ESP outage (503)', 0.35, 0.5],
  ['recovery', 0.5, 0.6],
  ['conflicting edits', 0.6, 0.9],
  ['quiet', 0.9, 1],
];

export interface ScenarioOptions {
  readonly customers: number;
  readonly durationMs: number;
  readonly seed: number;
  /** Where to send forged and stale webhooks (the app's hooks server), with the real secrets (for the stale one). */
  readonly forge?: ForgeTarget;
}


/** Counts of what the script did. */
export interface ScenarioCounts {
  /** User actions on the CRM (creates included) and on the ESP. */
  crmActions: number;
  espActions: number;
  readonly byKind: Record<string, number>;
}

/**
 * Plays the script against the two simulators: seeds the ESP with contacts of its own (never
 * linked, R12) and a few that CRM customers will match (R9), creates the customers, then runs
 * random user actions and the scripted rule cases while the faults play.
 */
export class Scenario {
  readonly phases: readonly ScenarioPhase[];
  readonly events: ScenarioEvent[] = [];
  readonly counts: ScenarioCounts = { crmActions: 0, espActions: 0, byKind: {} };
  /** ESP contacts no CRM customer matches: Weir must never write them (R12). */
  readonly espOnly = new Set<string>();
  readonly forged: ForgedWebhooks = { sent: 0, rejected: 0 };
  private readonly inFlight: Promise<void>[] = [];
  private readonly random: () => number;
  private readonly timeline: Timed[] = [];
  /** Positions (creation order) of the customers the scripted cases use (R9's two included); random actions leave them alone. */
  private readonly reservedIndex = new Set<number>([0, 1]);
  /** Customers random actions made lost or ESP-unsubscribed: left alone afterwards. */
  private readonly reserved = new Set<string>();
  private readonly customerIds: string[] = [];
  private readonly optedOutByScript = new Set<string>();
  private nextEmail = 0;
  private began = 0;
  private over = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly crm: CrmSimulator,
    private readonly esp: EspSimulator,
    private readonly o: ScenarioOptions,
  ) {
    this.random = seededRandom(o.seed);
    const d = o.durationMs;
    this.phases = PHASES.map(([name, from, to]) => ({ name, fromMs: Math.round(from * d), toMs: Math.round(to * d) }));
    this.plan();
  }

  /** The phase at `ms` since the start. */
  phaseAt(ms: number): string {
    return this.phases.find((p) => ms >= p.fromMs && ms < p.toMs)?.name ?? 'settling';
  }

  /** Elapsed ms since `start()`. */
  get elapsedMs(): number {
    return this.began === 0 ? 0 : performance.now() - this.began;
  }

  /**
   * Scripted cases still waiting for their customer to be ready (linked, or a previous case synced);
   * they keep being tried after the duration, until they ran or {@link stop}.
   */
  get waiting(): number {
    return this.over ? this.timeline.length : 0;
  }

  /**
   * Seeds the ESP's own contacts now, then plays the timeline; resolves when the duration is over
   * (faults cleared). Scripted cases whose customer is not ready yet keep being tried afterwards
   * (see {@link waiting}) until {@link stop}.
   */
  run(): Promise<void> {
    this.seedEsp();
    this.began = performance.now();
    return new Promise((resolve) => {
      const tick = (): void => {
        const now = this.elapsedMs;
        while (this.timeline.length > 0 && (this.timeline[0] as Timed).atMs <= now) {
          const t = this.timeline.shift() as Timed;
          let done = true;
          try {
            done = t.run();
          } catch {
            // A user action the simulator refused (an email taken meanwhile): skip it.
          }
          if (done && t.tag !== '') this.events.push({ atMs: Math.round(now), tag: t.tag, description: t.description });
          if (!done) this.insert({ ...t, atMs: now + 250 });
        }
        if (!this.over && now >= this.o.durationMs) {
          this.over = true;
          this.crm.faults.clear();
          this.esp.faults.clear();
          void Promise.all(this.inFlight).then(() => resolve());
        }
        if (!this.over || this.timeline.length > 0) this.timer = setTimeout(tick, 50);
      };
      tick();
    });
  }

  /** Stops the timeline (what is still waiting never runs). */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timeline.length = 0;
  }

  private insert(t: Timed): void {
    const i = this.timeline.findIndex((x) => x.atMs > t.atMs);
    if (i === -1) this.timeline.push(t);
    else this.timeline.splice(i, 0, t);
  }

  private at(fraction: number, tag: string, description: string, run: () => boolean | void): void {
    this.insert({ atMs: Math.round(fraction * this.o.durationMs), tag, description, run: () => run() !== false });
  }

  private count(kind: string, side: 'crm' | 'esp'): void {
    this.counts.byKind[kind] = (this.counts.byKind[kind] ?? 0) + 1;
    if (side === 'crm') this.counts.crmActions++;
    else this.counts.espActions++;
  }

  private pick<T>(items: readonly T[]): T | undefined {
    return items.length === 0 ? undefined : items[Math.floor(this.random() * items.length)];
  }

  private name(): string {
    return `${this.pick(FIRST)} ${this.pick(LAST)}`;
  }

  private email(prefix: string): string {
    // Mixed case on purpose: the ESP contact must get the lower-cased address (R1).
    return `${prefix}${++this.nextEmail}@Example.com`;
  }

  /** The linked ESP contact of a customer (by external id), if the sync made it. */
  private contactOf(customerId: string): Contact | undefined {
    return this.esp.state.contacts.find((c) => c.external_id === customerId);
  }

  private customer(id: string): Customer | undefined {
    return this.crm.state.customers.find((c) => c.id === id);
  }

  private seedEsp(): void {
    const own = Math.max(3, Math.round(this.o.customers * 0.05));
    for (let i = 0; i < own; i++) {
      const c = this.esp.actions.create({ email: `reader${i}@esp-only.example`, name: this.name() });
      this.espOnly.add(c.id);
    }
  }

  private plan(): void {
    const n = this.o.customers;
    const d = this.o.durationMs;
    // R9: two future customers already have an ESP contact (one the person unsubscribed).
    const adoptEmails = [this.email('Adopted'), this.email('Adopted')];
    this.at(0, 'R9', 'the ESP already has contacts for two future CRM customers (one unsubscribed by the person)', () => {
      this.esp.actions.create({ email: (adoptEmails[0] as string).toLowerCase(), name: 'Adopted One' });
      const u = this.esp.actions.create({ email: (adoptEmails[1] as string).toLowerCase(), name: 'Adopted Two' });
      this.esp.actions.unsubscribe(u.id);
      this.count('esp.seed', 'esp');
    });
    this.at(0, 'webhooks', 'webhook faults on both systems: 10% duplicated, 2% lost, 5% late, bursts reordered', () => {
      for (const sim of [this.crm, this.esp]) sim.faults.webhooks({ duplicateRate: 0.1, lostRate: 0.02, delayRate: 0.05, delayMs: Math.min(3000, Math.round(d * 0.05)), reorderWindowMs: 300 });
    });
    // The customers, created by CRM users over the first tenth.
    for (let i = 0; i < n; i++) {
      const email = i < 2 ? (adoptEmails[i] as string) : this.email('Customer');
      // The customers of the scripted cases (the first 11) start opted in, so each has a contact to work on.
      const optIn = i < 11 || this.random() < 0.85;
      const lost = i >= 12 && this.random() < 0.04;
      this.at((0.1 * i) / n, '', '', () => {
        const c = this.crm.actions.create({ email, name: this.name(), marketing_opt_in: optIn, ...(lost ? { status: 'lost' as const } : {}) });
        this.customerIds.push(c.id);
        this.count('crm.create', 'crm');
      });
    }
    this.at(0.04, 'fault', 'lost responses after commit: the next 3 ESP contact creates are applied, then the connection drops', () => {
      this.esp.faults.commitThenDrop(3, (m, p) => m === 'POST' && p.startsWith('/v3/contacts'));
    });
    this.at(0.12, 'fault', 'lost responses after commit: the next 2 CRM updates are applied, then the connection drops', () => {
      this.crm.faults.commitThenDrop(2, (m, p) => m === 'PATCH' && p.startsWith('/v1/customers'));
    });
    this.at(0.15, 'fault', 'ESP 429 storm: every request gets 429 with Retry-After (2 s, as an HTTP-date on its clock, 20 s behind)', () => {
      this.esp.faults.rateLimitStorm({ retryAfterSeconds: 2, forMs: Math.round(0.07 * d) });
    });
    this.at(0.2, 'fault', 'the CRM expires every access token (next call: 401, refresh with a rotating refresh token)', () => this.crm.actions.expireAccessTokens());
    this.at(0.22, 'fault', 'CRM 429 storm: every request gets 429 with Retry-After: 1', () => void this.crm.faults.rateLimitStorm({ retryAfterSeconds: 1, forMs: Math.round(0.05 * d) }));
    this.at(0.3, 'fault', 'lost responses after commit: the next 2 ESP contact updates are applied, then the connection drops', () => {
      this.esp.faults.commitThenDrop(2, (m, p) => m === 'PATCH' && p.startsWith('/v3/contacts/'));
    });
    this.at(0.35, 'fault', 'ESP outage: every request gets 503', () => void this.esp.faults.outage({ mode: '503', forMs: Math.round(0.15 * d) }));
    const ctx = this.context();
    planRules(ctx);
    this.planRandom();
    const forge = this.o.forge;
    if (forge !== undefined) {
      this.at(0.38, 'forged', 'forged and stale webhooks (a wrong signature, a timestamp an hour old) must get 4xx and change nothing', () => {
        this.inFlight.push(sendForged(ctx, forge, this.forged));
      });
    }
  }

  /** The scenario as the scripted cases see it. */
  private context(): ScriptContext {
    return {
      crm: this.crm,
      esp: this.esp,
      customers: this.o.customers,
      durationMs: this.o.durationMs,
      at: (fraction, tag, description, run) => this.at(fraction, tag, description, run),
      count: (kind, side) => this.count(kind, side),
      name: () => this.name(),
      email: (prefix) => this.email(prefix),
      customerAt: (index) => this.customerIds.at(index),
      reserve: (index) => void this.reservedIndex.add(index),
      customer: (id) => this.customer(id),
      contactOf: (id) => this.contactOf(id),
    };
  }

  /** Random user actions on both systems between 12% and 88% of the duration. */
  private planRandom(): void {
    const n = this.o.customers;
    const actions = Math.max(10, Math.round(n * 0.6));
    for (let k = 0; k < actions; k++) {
      const fraction = 0.12 + this.random() * 0.76;
      const roll = this.random();
      this.at(fraction, '', '', () => this.randomAction(roll));
    }
  }

  private randomAction(roll: number): boolean {
    const free = this.customerIds.filter((id, i) => !this.reservedIndex.has(i) && !this.reserved.has(id));
    const id = this.pick(free);
    if (roll < 0.15 || id === undefined) {
      const c = this.crm.actions.create({ email: this.email('Customer'), name: this.name(), marketing_opt_in: this.random() < 0.85 });
      this.customerIds.push(c.id);
      this.count('crm.create', 'crm');
      return true;
    }
    const customer = this.customer(id);
    if (customer === undefined) return true;
    if (roll < 0.45) {
      this.crm.actions.edit(id, { name: this.name() });
      this.count('crm.name', 'crm');
    } else if (roll < 0.55) {
      this.crm.actions.edit(id, { marketing_opt_in: false });
      this.optedOutByScript.add(id);
      this.count('crm.opt_out', 'crm');
    } else if (roll < 0.62) {
      const back = this.pick([...this.optedOutByScript].filter((x) => this.contactOf(x)?.unsubscribe_origin !== 'user'));
      if (back === undefined) return true;
      this.crm.actions.edit(back, { marketing_opt_in: true });
      this.optedOutByScript.delete(back);
      this.count('crm.opt_in', 'crm');
    } else if (roll < 0.66) {
      this.crm.actions.edit(id, { status: 'lost' });
      this.reserved.add(id);
      this.count('crm.lost', 'crm');
    } else if (roll < 0.76) {
      this.crm.actions.edit(id, { email: this.email('Renamed') });
      this.count('crm.email', 'crm');
    } else {
      const contact = this.contactOf(id);
      if (contact === undefined) return true;
      if (roll < 0.86) {
        this.esp.actions.unsubscribe(contact.id);
        this.reserved.add(id);
        this.count('esp.unsubscribe', 'esp');
      } else {
        this.esp.actions.edit(contact.id, { name: this.name() });
        this.count('esp.name', 'esp');
      }
    }
    return true;
  }
}
