import { createRedactor } from '../security/redact.js';
import type { Secret } from '../security/secret.js';
import type { AppLogger } from './context.js';

/** JSON lines `{ ts, level, app, msg, …fields }`, every field redacted (no secret, token or key ever printed). */
export function createLogger(app: string, write: ((line: string) => void) | false, secrets: readonly Secret[] = []): AppLogger {
  const redactor = createRedactor();
  for (const s of secrets) redactor.addSecret(s);
  const line = (level: string, msg: string, fields?: Readonly<Record<string, unknown>>): void => {
    if (write === false) return;
    const safe = fields === undefined ? {} : (redactor.json(fields) as Record<string, unknown>);
    write(redactor.text(JSON.stringify({ ts: new Date().toISOString(), level, app, msg: redactor.text(msg), ...safe })));
  };
  return {
    info: (msg, fields) => line('info', msg, fields),
    warn: (msg, fields) => line('warn', msg, fields),
    error: (msg, fields) => line('error', msg, fields),
  };
}
