// Time windows of the display: quiet hours and the playlist's days and
// hours, in the display's local time. Pure functions of a Date.

// minutes parses "HH:MM" into minutes after midnight; null if empty or bad.
export function minutes(hhmm) {
  const m = /^(\d{1,2}):(\d{2})$/.exec(hhmm || "");
  if (!m) return null;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (h > 24 || min > 59) return null;
  return h * 60 + min;
}

// inWindow reports whether now falls in [from, to); a window whose end is
// before its start runs past midnight ("22:00"–"06:00"). An empty bound
// means the start or the end of the day.
export function inWindow(now, from, to) {
  const f = minutes(from);
  const t = minutes(to);
  if (f === null && t === null) return true;
  const m = now.getHours() * 60 + now.getMinutes();
  const start = f === null ? 0 : f;
  const end = t === null ? 24 * 60 : t;
  if (start <= end) return m >= start && m < end;
  return m >= start || m < end;
}

// isoWeekday is 1 for Monday … 7 for Sunday.
export function isoWeekday(now) {
  return now.getDay() === 0 ? 7 : now.getDay();
}

// quiet reports whether now is in one of the quiet-hour windows.
export function quiet(now, quietHours) {
  return (quietHours || []).some((w) => inWindow(now, w.from, w.to));
}

// playing reports whether a playlist item is to be shown now: its day (ISO
// weekday, [] = every day) and its time window ("" = all day).
export function playing(item, now) {
  const days = item.days || [];
  if (days.length > 0 && !days.includes(isoWeekday(now))) return false;
  return inWindow(now, item.from, item.to);
}
