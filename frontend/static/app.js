// Behaviour shared by every page: theme switch, log-out, the auth forms,
// guest access and the account page.
import { api, toast, safeNext, setPrefCookie, busy, askDialog } from './api.js';

const root = document.documentElement;

// Theme: each click shows the other theme than the one on screen (the
// system's until the first click), so no click ever looks like nothing. The
// server renders data-theme from the cookie, so reloads paint it at once.
const themeButton = document.getElementById('theme-toggle');
if (themeButton) {
  themeButton.addEventListener('click', () => {
    const next = effectiveTheme() === 'dark' ? 'light' : 'dark';
    root.dataset.theme = next;
    setPrefCookie('kubelab_theme', next);
    themeButton.setAttribute('aria-label', `Theme: ${next}`);
    window.dispatchEvent(new CustomEvent('kubelab:theme', { detail: { theme: effectiveTheme() } }));
  });
}

/** The theme in effect: "light" or "dark". */
export function effectiveTheme() {
  if (root.dataset.theme) return root.dataset.theme;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

// Log out; a learner with running labs is asked whether to end them, so a
// sandbox is not left to run until it expires.
for (const b of document.querySelectorAll('[data-logout]')) {
  b.addEventListener('click', () => busy(b, async () => {
    try {
      let labs = [];
      try { labs = await api('GET', '/api/v1/sessions'); } catch { /* log out anyway */ }
      if (labs.length > 0) {
        const answer = await askLogout(labs);
        if (answer === 'cancel') return;
        if (answer === 'end') {
          await Promise.all(labs.map((l) => api('DELETE', `/api/v1/sessions/${encodeURIComponent(l.id)}`).catch(() => {})));
        }
      }
      await api('POST', '/api/v1/auth/logout');
      location.assign('/');
    } catch (e) {
      toast(e.message, { error: true });
    }
  }));
}

function askLogout(labs) {
  const dialog = document.getElementById('confirm-logout');
  const titles = labs.map((l) => l.title || l.chapter).join(', ');
  dialog.querySelector('.text').textContent = labs.length === 1
    ? `Your lab “${titles}” is still running. Ending it deletes its sandbox; your progress stays.`
    : `${labs.length} labs are still running (${titles}). Ending them deletes their sandboxes; your progress stays.`;
  return askDialog('confirm-logout').then((v) => v || 'cancel');
}

// Times a lab runs until, as minutes left.
for (const t of document.querySelectorAll('time[data-until]')) {
  const until = new Date(t.dateTime);
  const minutes = Math.max(0, Math.round((until - Date.now()) / 60000));
  t.textContent = `${minutes} min left (until ${until.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })})`;
}

// The labs page: End a lab in place.
for (const b of document.querySelectorAll('[data-end-lab]')) {
  b.addEventListener('click', () => busy(b, async () => {
    try {
      await api('DELETE', `/api/v1/sessions/${encodeURIComponent(b.dataset.endLab)}`);
      b.closest('tr').remove();
      if (!document.querySelector('[data-end-lab]')) {
        document.getElementById('labs-table')?.remove();
        document.getElementById('labs-empty').hidden = false;
      }
      toast('Lab ended; its sandbox is deleted. Your progress is saved.');
    } catch (e) {
      toast(`Could not end the lab: ${e.message}`, { error: true });
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
