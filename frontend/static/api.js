// Small helpers shared by the pages: calls to kubelab's JSON API and
// user-facing messages. Never builds HTML from strings.

/** An error answer of the API, with a message fit to show. */
export class APIError extends Error {
  constructor(status, message, requestID) {
    super(message);
    this.status = status;
    this.requestID = requestID || '';
  }
}

/**
 * Calls the API. State-changing calls always carry a JSON content type (the
 * server refuses anything else); the browser adds the Origin header.
 * Resolves to the decoded JSON body (null for 204), rejects with APIError.
 */
export async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (method !== 'GET' && method !== 'HEAD') {
    init.headers['Content-Type'] = 'application/json';
    if (body !== undefined) init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new APIError(0, 'Cannot reach kubelab. Check your connection and try again.');
  }
  if (res.status === 204) return null;
  let data = null;
  const type = res.headers.get('Content-Type') || '';
  if (type.includes('application/json')) {
    try { data = await res.json(); } catch { data = null; }
  }
  if (!res.ok) {
    let msg = (data && data.error) || `The server answered ${res.status} ${res.statusText}.`;
    if (res.status >= 500 && data && data.request_id) msg += ` (request ${data.request_id})`;
    throw new APIError(res.status, msg, data && data.request_id);
  }
  return data;
}

/** Shows a short message at the bottom of the page. */
let toastTimer = 0;
export function toast(message, { error = false, ms = 4000 } = {}) {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = message;
  el.classList.toggle('error', error);
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, ms);
}

/** A local path to go to after logging in, or "/". */
export function safeNext(next) {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  return next;
}

/** Sets a presentation cookie (theme, split) for a year. */
export function setPrefCookie(name, value) {
  const secure = location.protocol === 'https:' ? '; Secure' : '';
  document.cookie = `${name}=${encodeURIComponent(value)}; Path=/; Max-Age=31536000; SameSite=Lax${secure}`;
}

/** Marks a button busy while a promise runs. */
export async function busy(button, fn) {
  if (button) { button.disabled = true; button.setAttribute('aria-busy', 'true'); }
  try {
    return await fn();
  } finally {
    if (button) { button.disabled = false; button.removeAttribute('aria-busy'); }
  }
}

/** Opens the dialog id; resolves to the value of the button that closed it ('' for Escape). */
export function askDialog(id) {
  const dialog = document.getElementById(id);
  return new Promise((resolve) => {
    dialog.returnValue = '';
    dialog.addEventListener('close', () => resolve(dialog.returnValue), { once: true });
    dialog.showModal();
  });
}
