import type { ScheduleRecord, ScheduleStore } from '../queue.js';
import { scheduleRow } from './rows.js';
import type { PgConnection } from './connection.js';
import type { PostgresQueueStore } from './queue.js';
import { sql } from './schedules.sql.js';

/** Cron schedules in PostgreSQL. The enqueued id is derived from the fire time, so a race still enqueues once. */
export class PostgresScheduleStore implements ScheduleStore {
  private readonly q: ReturnType<typeof sql>;

  constructor(
    private readonly c: PgConnection,
    private readonly queue: PostgresQueueStore,
  ) {
    this.q = sql(`"${c.schema}"`);
  }

  async put(s: ScheduleRecord): Promise<void> {
    await this.c.query(this.q.put, [
      s.name,
      s.cron,
      s.timezone,
      s.topic,
      s.key,
      JSON.stringify(s.payload ?? null),
      JSON.stringify(s.headers),
      s.nextRunAt,
      s.lastRunAt,
    ]);
  }

  async remove(name: string): Promise<boolean> {
    return (await this.c.run(this.q.remove, [name])) > 0;
  }

  async list(): Promise<readonly ScheduleRecord[]> {
    return (await this.c.query(this.q.list)).map(scheduleRow);
  }

  async fireDue(now: number, next: (schedule: ScheduleRecord, after: number) => number): Promise<readonly string[]> {
    return this.c.tx(async (client) => {
      const ids: string[] = [];
      for (const s of (await this.c.query(this.q.due, [now], client)).map(scheduleRow)) {
        const id = `cron:${s.name}:${s.nextRunAt}`;
        const message = { id, topic: s.topic, key: s.key, payload: s.payload, headers: s.headers, runAt: now };
        ids.push(...(await this.queue.enqueue(client, [message], now)));
        await this.c.query(this.q.advance, [s.name, next(s, now), s.nextRunAt], client);
      }
      return ids;
    });
  }
}
