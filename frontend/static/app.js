// Behaviour shared by every page: theme switch, log-out, the auth forms,
// guest access and the account page.
import { api, toast, safeNext, setPrefCookie, busy } from './api.js';

const root = document.documentElement;

// Theme: system → light → dark → system. The server renders data-theme from
// the cookie, so reloads paint the right theme at once.
const themeButton = document.getElementById('theme-toggle');
if (themeButton) {
  themeButton.addEventListener('click', () => {
    const order = ['', 'light', 'dark'];
    const next = order[(order.indexOf(root.dataset.theme || '') + 1) % order.length];
    if (next) root.dataset.theme = next; else delete root.dataset.theme;
    setPrefCookie('kubelab_theme', next);
    themeButton.setAttribute('aria-label', `Theme: ${next || 'system'}`);
    window.dispatchEvent(new CustomEvent('kubelab:theme', { detail: { theme: effectiveTheme() } }));
  });
}

/** The theme in effect: "light" or "dark". */
export function effectiveTheme() {
  if (root.dataset.theme) return root.dataset.theme;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

for (const b of document.querySelectorAll('[data-logout]')) {
  b.addEventListener('click', () => busy(b, async () => {
    try {
      await api('POST', '/api/v1/auth/logout');
      location.assign('/');
    } catch (e) {
      toast(e.message, { error: true });
    }
  }));
}

function showError(form, message) {
  const el = form.querySelector('.form-error') || form.parentElement.querySelector('.form-error');
  if (!el) { toast(message, { error: true }); return; }
  el.textContent = message;
  el.hidden = !message;
}

function formValues(form) {
  return Object.fromEntries(new FormData(form).entries());
}

function bindForm(id, submit) {
  const form = document.getElementById(id);
  if (!form) return;
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    showError(form, '');
    const button = form.querySelector('button[type="submit"]');
    busy(button, async () => {
      try {
        await submit(form, formValues(form));
      } catch (e) {
        showError(form, e.message);
      }
    });
  });
}

bindForm('login-form', async (form, v) => {
  if (!v.email || !v.password) throw new Error('Enter your email and password.');
  await api('POST', '/api/v1/auth/login', { email: v.email, password: v.password });
  location.assign(safeNext(form.dataset.next));
});

bindForm('signup-form', async (form, v) => {
  if (!v.email) throw new Error('Enter your email address.');
  if ((v.password || '').length < 10) throw new Error('Choose a password of at least 10 characters.');
  await api('POST', '/api/v1/auth/signup', { email: v.email, password: v.password, name: v.name || '' });
  location.assign(safeNext(form.dataset.next));
});

bindForm('name-form', async (form, v) => {
  const ok = form.querySelector('.form-ok');
  ok.hidden = true;
  const me = await api('PATCH', '/api/v1/me', { name: (v.name || '').trim() });
  // textContent only: a name is whatever the user typed.
  for (const el of document.querySelectorAll('.user-name')) el.textContent = me.name;
  for (const el of document.querySelectorAll('.avatar')) el.textContent = (me.name.trim()[0] || '?').toUpperCase();
  ok.hidden = false;
});

for (const b of document.querySelectorAll('[data-guest]')) {
  b.addEventListener('click', () => busy(b, async () => {
    const err = b.parentElement.querySelector(':scope > .form-error');
    if (err) err.hidden = true;
    try {
      await api('POST', '/api/v1/auth/guest', {});
      location.assign(safeNext(b.dataset.next));
    } catch (e) {
      if (err) { err.textContent = e.message; err.hidden = false; } else toast(e.message, { error: true });
    }
  }));
}
