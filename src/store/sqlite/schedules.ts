import type { ScheduleRecord, ScheduleStore } from '../queue.js';
import { scheduleRow } from './rows.js';
import type { SqliteConnection } from './connection.js';
import type { SqliteQueueStore } from './queue.js';
import * as sql from './schedules.sql.js';

type Row = Record<string, unknown>;

/** Cron schedules in SQLite; firing is one write transaction, so two processes never fire the same time twice. */
export class SqliteScheduleStore implements ScheduleStore {
  constructor(
    private readonly c: SqliteConnection,
    private readonly queue: SqliteQueueStore,
  ) {}

  async put(s: ScheduleRecord): Promise<void> {
    this.c.stmt(sql.PUT).run({
      name: s.name,
      cron: s.cron,
      timezone: s.timezone,
      topic: s.topic,
      key: s.key,
      payload: JSON.stringify(s.payload ?? null),
      headers: JSON.stringify(s.headers),
      nextRunAt: s.nextRunAt,
      lastRunAt: s.lastRunAt,
    });
  }

  async remove(name: string): Promise<boolean> {
    return this.c.stmt(sql.REMOVE).run(name).changes > 0;
  }

  async list(): Promise<readonly ScheduleRecord[]> {
    return (this.c.stmt(sql.LIST).all() as Row[]).map(scheduleRow);
  }

  async fireDue(now: number, next: (schedule: ScheduleRecord, after: number) => number): Promise<readonly string[]> {
    return this.c.tx(() => {
      const ids: string[] = [];
      for (const s of (this.c.stmt(sql.DUE).all(now) as Row[]).map(scheduleRow)) {
        const id = `cron:${s.name}:${s.nextRunAt}`;
        ids.push(...this.queue.enqueue(this.c.db as never, [{ id, topic: s.topic, key: s.key, payload: s.payload, headers: s.headers, runAt: now }], now));
        this.c.stmt(sql.ADVANCE).run({ name: s.name, fired: s.nextRunAt, next: next(s, now) });
      }
      return ids;
    });
  }
}
