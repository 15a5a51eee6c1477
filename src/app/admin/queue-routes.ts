import type { DeadLetter } from '../../store/dead-letters.js';
import type { ErrorRecord } from '../../store/queue.js';
import type { SagaRunRecord } from '../../store/sagas.js';
import { badRequest, intParam, iso, notFound, strParam, type AdminHandler } from './respond.js';

const PREVIEW = 240;
/** Beyond the largest `Date` (a pause holds until `Number.MAX_SAFE_INTEGER`). */
const MAX_DATE = 8.64e15;

/** An error record as JSON; the stack only with `withStack` (`GET /dlq/:id`). @internal */
export function errorJson(e: ErrorRecord | null, withStack = false): Record<string, unknown> | null {
  if (e === null) return null;
  return {
    name: e.name,
    code: e.code,
    message: e.message,
    classification: e.classification,
    ...(e.status === undefined ? {} : { status: e.status }),
    ...(e.retryAfterMs === undefined ? {} : { retry_after_ms: e.retryAfterMs }),
    ...(withStack && e.stack !== undefined ? { stack: e.stack } : {}),
  };
}

function preview(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? 'undefined';
  } catch {
    s = String(v);
  }
  return s.length > PREVIEW ? `${s.slice(0, PREVIEW)}…` : s;
}

function deadLetterJson(d: DeadLetter): Record<string, unknown> {
  return {
    id: d.id,
    seq: d.seq,
    topic: d.topic,
    key: d.key,
    state: d.state,
    attempts: d.attempts,
    replays: d.replays,
    created_at: iso(d.createdAt),
    dead_at: iso(d.deadAt),
    signature: d.signature,
    error: errorJson(d.error),
    payload_preview: preview(d.payload),
  };
}

/**
 * `GET /dlq` → `{ count, groups, items }`: dead letters newest first (`?topic=`, `?signature=`,
 * `?limit=` default 100, `?before=<seq>` for the next page) and their groups by error signature.
 */
export const listDeadLetters: AdminHandler = async ({ app, url }) => {
  const topic = strParam(url, 'topic');
  const signature = strParam(url, 'signature');
  const limit = intParam(url, 'limit', { min: 1, max: 1000 }) ?? 100;
  const before = intParam(url, 'before', { min: 1 });
  const dl = app.queue.deadLetters;
  const filter = { ...(topic === undefined ? {} : { topic }), ...(signature === undefined ? {} : { signature }) };
  const [count, groups, items] = await Promise.all([
    dl.count(filter),
    dl.groups(topic === undefined ? {} : { topic }),
    dl.list({ ...filter, limit, ...(before === undefined ? {} : { beforeSeq: before }) }),
  ]);
  return {
    count,
    groups: groups.map((g) => ({ topic: g.topic, signature: g.signature, count: g.count, first_at: iso(g.firstAt), last_at: iso(g.lastAt), code: g.code, message: g.message })),
    items: items.map(deadLetterJson),
    next: items.length === limit ? (items[items.length - 1]?.seq ?? null) : null,
  };
};

/** `GET /dlq/:id` → one dead letter with payload, headers, error stack, attempt history and earlier dead-letterings. */
export const getDeadLetter: AdminHandler = async ({ app, params }) => {
  const d = await app.queue.deadLetters.get(params['id'] as string);
  if (d === null) throw notFound(`no dead letter ${JSON.stringify(params['id'])}`);
  return {
    ...deadLetterJson(d),
    payload: d.payload,
    headers: d.headers,
    error: errorJson(d.error, true),
    history: d.history.map((h) => ({ delivery: h.delivery, attempt: h.attempt, at: iso(h.at), duration_ms: h.durationMs, outcome: h.outcome, error: errorJson(h.error) })),
    previous: d.previous.map((p) => ({ dead_at: iso(p.deadAt), error: errorJson(p.error), attempts: p.history.length })),
  };
};

/** `POST /dlq/:id/replay` → `{ replayed: [id] }` (the message goes back to the queue under its id, attempts reset). */
export const replayDeadLetter: AdminHandler = async ({ app, params }) => {
  const id = params['id'] as string;
  const replayed = await app.queue.deadLetters.replay({ ids: [id] });
  if (replayed.length === 0) throw notFound(`no dead letter ${JSON.stringify(id)}`);
  app.log.info('dead letter replayed', { id });
  return { replayed };
};

/** `POST /dlq/:id/discard` → `{ discarded: [id] }`. */
export const discardDeadLetter: AdminHandler = async ({ app, params }) => {
  const id = params['id'] as string;
  const discarded = await app.queue.deadLetters.discard({ ids: [id] });
  if (discarded.length === 0) throw notFound(`no dead letter ${JSON.stringify(id)}`);
  app.log.info('dead letter discarded', { id });
  return { discarded };
};

/** `GET /queues` → `{ topics: [...], holds: [...] }`: depth per topic and state, holds and pauses in force. */
export const listQueues: AdminHandler = async ({ app }) => {
  const now = app.clock.now();
  const [stats, holds] = await Promise.all([app.queue.stats(), app.queue.holds()]);
  return {
    topics: stats.map((s) => ({
      topic: s.topic,
      ready: s.ready,
      scheduled: s.scheduled,
      waiting: s.waiting,
      active: s.active,
      done: s.done,
      dead: s.dead,
      blocked: s.blocked,
      depth: s.ready + s.scheduled + s.waiting + s.active,
      oldest_ready_age_ms: s.oldestReadyAt === null ? null : Math.max(0, now - s.oldestReadyAt),
    })),
    holds: holds.map((h) => ({ topic: h.topic, key: h.key, until: h.until >= MAX_DATE ? null : iso(h.until), paused: h.until >= MAX_DATE, reason: h.reason })),
  };
};

const SAGA_STATES = ['running', 'compensating', 'completed', 'compensated', 'paused', 'aborted', 'failed'] as const;

function sagaJson(r: SagaRunRecord): Record<string, unknown> {
  return {
    id: r.id,
    name: r.name,
    state: r.state,
    step: r.step,
    step_index: r.stepIndex,
    created_at: iso(r.createdAt),
    updated_at: iso(r.updatedAt),
    finished_at: iso(r.finishedAt),
    deadline: iso(r.deadline),
    error: errorJson(r.error),
    compensation_error: errorJson(r.compensationError),
  };
}

/** `GET /sagas` → saga runs, newest first (`?state=`, `?name=`, `?limit=` default 100, `?before=<seq>`). */
export const listSagas: AdminHandler = async ({ app, url }) => {
  const state = strParam(url, 'state', SAGA_STATES);
  const name = strParam(url, 'name');
  const limit = intParam(url, 'limit', { min: 1, max: 1000 }) ?? 100;
  const before = intParam(url, 'before', { min: 1 });
  const runs = await app.store.sagas.list({
    limit,
    ...(state === undefined ? {} : { state }),
    ...(name === undefined ? {} : { name }),
    ...(before === undefined ? {} : { beforeSeq: before }),
  });
  return runs.map(sagaJson);
};

/** `GET /sagas/:id` → a run with its step history. */
export const getSaga: AdminHandler = async ({ app, params }) => {
  const id = params['id'] as string;
  if (id.length > 200) throw badRequest('id is too long');
  const run = await app.store.sagas.get(id);
  if (run === null) throw notFound(`no saga run ${JSON.stringify(id)}`);
  const steps = await app.store.sagas.steps(id);
  return {
    ...sagaJson(run),
    steps: steps.map((s) => ({
      phase: s.phase,
      index: s.index,
      name: s.name,
      status: s.status,
      attempts: s.attempts,
      started_at: iso(s.startedAt),
      finished_at: iso(s.finishedAt),
      error: errorJson(s.error),
    })),
  };
};
