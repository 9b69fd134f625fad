// How the workshop pages write times, statuses and an event's window.

const statusLabels = { scheduled: 'Scheduled', open: 'Open', ended: 'Ended' };

/** The word for an event's status. */
export function statusLabel(status) {
  return statusLabels[status] || status || '';
}

/** A moment for people, in this computer's time zone: "7 Dec, 10:30". */
export function formatTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString([], { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

/** A clock time: "10:30". */
export function formatClock(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** An event's time window: "7 Dec, 10:00 – 7 Dec, 13:00", "from …", "until …" or "no time set". */
export function formatWindow(ev) {
  const from = formatTime(ev.starts_at);
  const to = formatTime(ev.ends_at);
  if (from && to) return `${from} – ${to}`;
  if (from) return `from ${from}`;
  if (to) return `until ${to}`;
  return 'no time set';
}

/** Minutes left until iso, for a lab's expiry: "42 min left" or "expired". */
export function timeLeft(iso) {
  if (!iso) return '';
  const ms = Date.parse(iso) - Date.now();
  if (!(ms > 0)) return 'expired';
  const min = Math.round(ms / 60000);
  return min >= 120 ? `${Math.floor(min / 60)} h ${min % 60} min left` : `${min} min left`;
}

/** A datetime-local input's value for an RFC 3339 time (this computer's zone). */
export function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** An RFC 3339 time for a datetime-local input's value, or null when empty. */
export function fromLocalInput(value) {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** The join page's address for an event: its join URL (the server's public address) without the code. */
export function joinAddress(ev) {
  return ev?.join_url ? ev.join_url.replace(/\/join\/[^/]*$/, '/join') : `${location.origin}/join`;
}

/** A DOM element with a class and text (never HTML). */
export function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
