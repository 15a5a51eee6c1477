import { CronExpressionParser } from 'cron-parser';
import { InvalidOptionError } from '../errors.js';

/**
 * The first fire time of `cron` strictly after `after` (epoch ms), read in time zone `timezone`.
 * Expressions have 5 fields (minute precision) or 6 (with seconds first), and the `@hourly`-style
 * shortcuts, as cron-parser reads them.
 * @throws InvalidOptionError naming `option` for an invalid expression or time zone.
 */
export function nextCronTime(cron: string, timezone: string, after: number, option = 'cron'): number {
  try {
    return CronExpressionParser.parse(cron, { currentDate: after, tz: timezone }).next().getTime();
  } catch (err) {
    throw Object.assign(new InvalidOptionError(option, 'a valid cron expression and IANA time zone', cron), { cause: err });
  }
}
