// The barcode reader of a totem is a keyboard-wedge: it types what it read,
// fast, and presses Enter. A person types slowly. Scanner tells the two
// apart by the time between keys; classify says what a scan looks like
// (the appliance's POST /api/v1/scan is the authority, this is the fallback).

export const SCAN_GAP_MS = 50; // a reader types faster than one key per 50 ms
export const SCAN_MIN_LENGTH = 8; // shorter bursts are a person's fast fingers

export class Scanner {
  constructor({ gap = SCAN_GAP_MS, min = SCAN_MIN_LENGTH } = {}) {
    this.gap = gap;
    this.min = min;
    this.buf = "";
    this.last = -Infinity;
  }

  // key takes one keydown (its key and time in ms) and says what it is:
  // {start: true} when it begins a new burst (the page notes what the
  // focused field held before it), {scan: text} when Enter ends a burst fast
  // and long enough to be a reader, {enter: true} for a person's Enter, {}
  // otherwise.
  key(key, time) {
    const out = {};
    const fast = time - this.last < this.gap;
    if (!fast) this.buf = "";
    if (key === "Enter") {
      const text = this.buf;
      this.buf = "";
      this.last = -Infinity;
      if (fast && text.length >= this.min) return { scan: text };
      return { enter: true };
    }
    if (key.length !== 1) {
      // Shift and the like come within a reader's burst: they keep it going.
      if (this.buf) this.last = time;
      return out;
    }
    if (!this.buf) out.start = true;
    this.buf += key;
    this.last = time;
    return out;
  }

  // pending reports a burst in progress (its keys may still turn out to be
  // a scan).
  get pending() {
    return this.buf.length > 0;
  }
}

const TOKEN = /^[A-Za-z0-9_-]{43}$/;
const TICKET_URL = /\/t\/([A-Za-z0-9_-]{43})(?:[/?#].*)?$/;
const FISCAL = /^[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-EHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]$/;

// classify is what the appliance's /api/v1/scan would answer for typed
// text: {kind: "ticket", token}, {kind: "fiscal_code", fiscal_code}, or
// {error: "invalid_fiscal_code" | "unrecognized_code" | "no_code_found"}.
export function classify(text) {
  const s = String(text || "").trim();
  if (!s) return { error: "no_code_found" };
  const url = TICKET_URL.exec(s);
  if (url) return { kind: "ticket", token: url[1] };
  if (TOKEN.test(s)) return { kind: "ticket", token: s };
  const fc = s.toUpperCase().replace(/\s+/g, "");
  if (fc.length === 16 && /^[A-Z0-9]+$/.test(fc)) {
    if (FISCAL.test(fc) && fiscalCheck(fc) === fc[15]) return { kind: "fiscal_code", fiscal_code: fc };
    return { error: "invalid_fiscal_code" };
  }
  return { error: "unrecognized_code" };
}

// Values of the characters in odd (1st, 3rd …) positions of a fiscal code;
// even positions count A=0 … Z=25 and 0=0 … 9=9.
const ODD = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23];

function value(c, odd) {
  const n = /[0-9]/.test(c) ? c.charCodeAt(0) - 48 : c.charCodeAt(0) - 65;
  return odd ? ODD[n] : n;
}

// fiscalCheck is the check letter of the first 15 characters.
export function fiscalCheck(fc) {
  let sum = 0;
  for (let i = 0; i < 15; i++) sum += value(fc[i], i % 2 === 0);
  return String.fromCharCode(65 + (sum % 26));
}
