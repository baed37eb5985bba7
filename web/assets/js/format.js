// Display formatting: money in minor units, RFC 3339 instants, plain calendar dates.

const digitsCache = new Map();

/** Number of minor-unit digits of an ISO 4217 currency (2 for EUR, 0 for JPY). */
export function currencyDigits(currency) {
  if (!digitsCache.has(currency)) {
    let digits = 2;
    try {
      digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions()
        .maximumFractionDigits;
    } catch {
      // An unknown code still shows as a number with two decimals.
    }
    digitsCache.set(currency, digits);
  }
  return digitsCache.get(currency);
}

const moneyFormats = new Map();

/** Formats an integer amount in minor units: money(4050, 'EUR') -> "€40.50". */
export function money(amountMinor, currency) {
  if (amountMinor === undefined || amountMinor === null) return '—';
  const digits = currencyDigits(currency);
  const value = amountMinor / 10 ** digits;
  // Building an Intl.NumberFormat is costly and a stadium map formats 50,000 prices.
  if (!moneyFormats.has(currency)) {
    let format;
    try {
      format = new Intl.NumberFormat(undefined, { style: 'currency', currency });
    } catch {
      format = null;
    }
    moneyFormats.set(currency, format);
  }
  const format = moneyFormats.get(currency);
  return format ? format.format(value) : `${value.toFixed(digits)} ${currency}`;
}

/** Formats an RFC 3339 instant in the viewer's time zone. */
export function dateTime(rfc3339) {
  if (!rfc3339) return '—';
  const d = new Date(rfc3339);
  if (Number.isNaN(d.getTime())) return rfc3339;
  return d.toLocaleString(undefined, {
    weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
  });
}

/** Formats a plain YYYY-MM-DD calendar date without shifting it through a time zone. */
export function calendarDate(ymd) {
  if (!ymd) return '—';
  const d = new Date(`${ymd}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return ymd;
  return d.toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });
}

/** "Apr 3, 2026" or "Apr 3 – Apr 9, 2026" for an event's run. */
export function dateRange(start, end) {
  return !end || start === end ? calendarDate(start) : `${calendarDate(start)} – ${calendarDate(end)}`;
}

/** m:ss for a countdown. */
export function clock(totalSeconds) {
  const s = Math.max(0, Math.floor(totalSeconds));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, '0')}`;
}

/** A human duration such as "about 3 minutes". */
export function duration(seconds) {
  if (seconds === undefined || seconds === null) return 'unknown';
  if (seconds < 60) return seconds <= 5 ? 'a few seconds' : `about ${Math.round(seconds)} seconds`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `about ${minutes} minute${minutes === 1 ? '' : 's'}`;
  const hours = Math.floor(minutes / 60);
  return `about ${hours} h ${minutes % 60} min`;
}

/** A seat's human name: "Stalls, row B, seat 12". */
export function seatName(seat) {
  const section = seat.sectionName || seat.section || seat.sectionId;
  return `${section ? `${section}, ` : ''}row ${seat.row}, seat ${seat.number}`;
}

/** Title-cases a category or status word: "SOLD_OUT" -> "Sold out". */
export function label(word) {
  if (!word) return '';
  const w = String(word).replace(/_/g, ' ').toLowerCase();
  return w.charAt(0).toUpperCase() + w.slice(1);
}
