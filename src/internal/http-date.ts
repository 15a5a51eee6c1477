/**
 * HTTP-date (RFC 9110 §5.6.7) in its three forms, to epoch milliseconds:
 * - IMF-fixdate (preferred):  `Sun, 06 Nov 1994 08:49:37 GMT`
 * - obsolete RFC 850:         `Sunday, 06-Nov-94 08:49:37 GMT`
 * - obsolete ANSI C asctime:  `Sun Nov  6 08:49:37 1994`
 *
 * Day and month names match case-insensitively and the weekday is not checked against the date
 * (the RFC asks recipients to be robust); anything else off the grammar, or an impossible date
 * (31 Feb, 25:00), gives `undefined`. `Date.parse` is not used: it accepts far more than HTTP allows.
 */

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAY = '(?:mon|tue|wed|thu|fri|sat|sun)';
const DAY_LONG = '(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)';
const MONTH = '(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';

const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`, 'i');
const RFC_850 = new RegExp(`^${DAY_LONG}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`, 'i');
const ASCTIME = new RegExp(`^${DAY} ${MONTH} (\\d{2}| \\d) ${TIME} (\\d{4})$`, 'i');

/**
 * Parses an HTTP-date to epoch ms, or `undefined` when it is not one.
 * @param now epoch ms, used only to place the two-digit year of the RFC 850 form: a year that would
 *   be more than 50 years in the future is the most recent past year with those digits (RFC 9110).
 */
export function parseHttpDate(value: string, now: number = Date.now()): number | undefined {
  const text = value.trim();
  let m = IMF_FIXDATE.exec(text);
  if (m) return build(m[3], m[2], m[1], m[4], m[5], m[6]);
  m = ASCTIME.exec(text);
  if (m) return build(m[6], m[1], m[2], m[3], m[4], m[5]);
  m = RFC_850.exec(text);
  if (!m) return undefined;
  const yy = Number(m[3]);
  const thisYear = new Date(now).getUTCFullYear();
  let year = Math.floor(thisYear / 100) * 100 + yy;
  if (year > thisYear + 50) year -= 100;
  return build(String(year), m[2], m[1], m[4], m[5], m[6]);
}

function build(
  yearText: string | undefined,
  monthText: string | undefined,
  dayText: string | undefined,
  hourText: string | undefined,
  minuteText: string | undefined,
  secondText: string | undefined,
): number | undefined {
  const year = Number(yearText);
  const month = MONTHS.indexOf(String(monthText).toLowerCase());
  const day = Number(String(dayText).trim());
  const hour = Number(hourText);
  const minute = Number(minuteText);
  const second = Number(secondText);
  // The grammar allows second 60 (a leap second); it is read as the next second.
  if (month < 0 || day < 1 || hour > 23 || minute > 59 || second > 60) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(year, month, day); // not Date.UTC: it reads years 0-99 as 1900-1999
  // Reject days the month doesn't have (31 Feb would roll over to March).
  if (date.getUTCMonth() !== month || date.getUTCDate() !== day) return undefined;
  return date.getTime() + ((hour * 60 + minute) * 60 + second) * 1000;
}
