// Small helpers: bounded polling, unique names, exact decimals (BigInt) and RFC 4180 CSV.

import { randomBytes } from 'node:crypto';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A short random suffix for names that must be unique in the run. */
export const uid = () => randomBytes(4).toString('hex');

/**
 * Calls `fn` until it returns without throwing (its value is returned), at most `timeout` ms; then throws its
 * last error, prefixed with `what`. Usage events are written asynchronously, so every check of spend polls.
 */
export async function eventually(what, fn, { timeout = 30_000, interval = 500 } = {}) {
  const deadline = Date.now() + timeout;
  let attempt = 0;
  for (;;) {
    try {
      return await fn(attempt++);
    } catch (err) {
      if (Date.now() + interval > deadline) {
        err.message = `${what}: still failing after ${timeout} ms: ${err.message}`;
        throw err;
      }
    }
    await sleep(interval);
  }
}

// ---- exact decimals ---------------------------------------------------------------------------------------

/** Money is compared in pico-units (10^-12), like the gateway stores it. */
export const PICO_SCALE = 12;

/** `"0.00001995"` → 19950000n at scale 12 (or any `scale`). Refuses more decimals than the scale. */
export function toUnits(text, scale = PICO_SCALE) {
  const s = String(text).trim();
  const m = /^(-)?(\d+)(?:\.(\d+))?$/.exec(s);
  if (!m) throw new Error(`not a plain decimal: ${JSON.stringify(text)}`);
  const [, minus, int, frac = ''] = m;
  if (frac.length > scale) throw new Error(`${s} has more than ${scale} decimals`);
  const units = BigInt(int) * 10n ** BigInt(scale) + BigInt(frac.padEnd(scale, '0') || '0');
  return minus ? -units : units;
}

/** 19950000n → `"0.00001995"`: the canonical form (no trailing zeros, `"0"` for zero). */
export function fromUnits(units, scale = PICO_SCALE) {
  const neg = units < 0n;
  const abs = neg ? -units : units;
  const base = 10n ** BigInt(scale);
  const int = abs / base;
  const frac = (abs % base).toString().padStart(scale, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${int}${frac ? `.${frac}` : ''}`;
}

/**
 * The amount shown in a page cell, e.g. `"$0.0000105"`, `"0.0000105 USD"` or `"1,250.5"`, in pico-units.
 * Only a currency symbol or code and thousands separators may surround the exact decimal.
 */
export function displayedUnits(text) {
  const m = /-?\d[\d,]*(?:\.\d+)?/.exec(String(text));
  if (!m) throw new Error(`no amount in ${JSON.stringify(text)}`);
  return toUnits(m[0].replace(/,/g, ''));
}

// ---- CSV (RFC 4180) ---------------------------------------------------------------------------------------

/**
 * Parses RFC 4180 text strictly: records end with CRLF (the last one too), quoted fields may hold commas,
 * quotes (doubled) and line breaks. Returns an array of records (arrays of strings).
 */
export function parseCsv(text) {
  const records = [];
  let record = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i += 1;
        if (i < text.length && text[i] !== ',' && text[i] !== '\r') {
          throw new Error(`CSV: character after a closing quote at offset ${i}`);
        }
        continue;
      }
      field += c;
      i += 1;
      continue;
    }
    if (c === '"') {
      if (field !== '') throw new Error(`CSV: quote inside an unquoted field at offset ${i}`);
      quoted = true;
      i += 1;
    } else if (c === ',') {
      record.push(field);
      field = '';
      i += 1;
    } else if (c === '\r') {
      if (text[i + 1] !== '\n') throw new Error(`CSV: CR without LF at offset ${i}`);
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i += 2;
    } else if (c === '\n') {
      throw new Error(`CSV: bare LF at offset ${i} (records must end with CRLF)`);
    } else {
      field += c;
      i += 1;
    }
  }
  if (quoted) throw new Error('CSV: unterminated quoted field');
  if (field !== '' || record.length) throw new Error('CSV: the last record does not end with CRLF');
  return records;
}

/** Records as objects keyed by the header row. Checks every record has as many fields as the header. */
export function csvObjects(text) {
  const [header, ...rows] = parseCsv(text);
  if (!header) throw new Error('CSV: empty file');
  return {
    header,
    rows: rows.map((r, n) => {
      if (r.length !== header.length) {
        throw new Error(`CSV: record ${n + 1} has ${r.length} fields, the header ${header.length}`);
      }
      return Object.fromEntries(header.map((h, k) => [h, r[k]]));
    }),
  };
}

/** Today and tomorrow as UTC dates (`YYYY-MM-DD`), for a report that holds every call of the run. */
export function utcDay(offsetDays = 0, from = new Date()) {
  const d = new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate() + offsetDays));
  return d.toISOString().slice(0, 10);
}
