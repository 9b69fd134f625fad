// The event's head: title, status, time window, seats and chapters; the
// join code and address, big, with Copy and a projector view; Edit, End
// now and Delete.
import { api, askDialog, busy, toast } from '../api.js';
import { eventFields } from './fields.js';
import { formatWindow, joinAddress, statusLabel } from './format.js';

/**
 * @param {ReturnType<import('./state.js').createState>} state
 */
export function initHeader(state) {
  const $ = (id) => document.getElementById(id);
  const base = `/api/v1/events/${encodeURIComponent(state.id)}`;

  state.on((c) => { if (c.type === 'event') render(state.event); });

  // The status follows the clock between the server's updates: a
  // scheduled event opens at its start without anything changing on the
  // server (its end the server announces).
  setInterval(() => render(state.event), 30000);

  function render(ev) {
    if (!ev) return;
    $('event-title').textContent = ev.title;
    document.title = `${ev.title} · kubelab`;
    const status = $('event-status');
    const now = Date.now();
    let current = ev.status;
    if (current === 'scheduled' && ev.starts_at && Date.parse(ev.starts_at) <= now) current = 'open';
    if (current !== 'ended' && ev.ends_at && Date.parse(ev.ends_at) <= now) current = 'ended';
    status.textContent = statusLabel(current);
    status.dataset.status = current;
    $('event-window').textContent = formatWindow(ev);
    $('event-seats').textContent = `${ev.joined} of ${ev.seats} seats taken`;
    $('event-ttl').textContent = ev.session_ttl_minutes ? `labs last ${ev.session_ttl_minutes} min` : '';
    $('event-chapters').textContent = `Chapters: ${(ev.chapters || []).map((c, i) => `${i + 1}. ${c.title}`).join(' · ')}`;
    const banner = $('event-banner');
    banner.textContent = ev.banner ? `Banner shown to learners: “${ev.banner}”` : '';
    banner.hidden = !ev.banner;
    $('join-code').textContent = ev.join_code || '';
    const url = $('join-url');
    url.textContent = ev.join_url || '';
    url.href = ev.join_url || '/join';
    $('end-event').disabled = current === 'ended';
  }

  // Copy: the clipboard API where the page may use it (https or
  // localhost), else a selection copied the old way.
  for (const b of document.querySelectorAll('[data-copy]')) {
    b.addEventListener('click', async () => {
      const text = $(b.dataset.copy).textContent.trim();
      if (!text) return;
      let ok = false;
      try {
        await navigator.clipboard.writeText(text);
        ok = true;
      } catch {
        const area = document.createElement('textarea');
        area.value = text;
        area.className = 'copy-buffer';
        document.body.append(area);
        area.select();
        try { ok = document.execCommand('copy'); } catch { ok = false; }
        area.remove();
      }
      toast(ok ? `Copied ${text}` : 'Could not copy: select the text and copy it yourself.', { error: !ok });
    });
  }

  $('project-join').addEventListener('click', () => {
    const ev = state.event;
    if (!ev) return;
    $('projector-title').textContent = ev.title;
    $('projector-url').textContent = joinAddress(ev);
    $('projector-code').textContent = ev.join_code || '';
    $('projector').showModal();
  });

  // Edit: the create form's fields in a dialog.
  const dialog = $('edit-dialog');
  const form = $('edit-form');
  const fields = eventFields(form);
  const error = form.querySelector('.form-error');
  $('edit-event').addEventListener('click', () => {
    if (!state.event) return;
    fields.fill(state.event);
    error.hidden = true;
    dialog.showModal();
  });
  form.querySelector('[data-close]').addEventListener('click', () => dialog.close());
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    error.hidden = true;
    busy(form.querySelector('button[type="submit"]'), async () => {
      try {
        state.setEvent(await api('PATCH', base, fields.read(true)));
        dialog.close();
        toast('Saved.');
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
      }
    });
  });

  $('end-event').addEventListener('click', async () => {
    if (!await confirm('End the event now?', 'Every learner\'s lab in its chapters ends and nobody can join any more. Results stay here.', 'End the event')) return;
    try {
      state.setEvent(await api('PATCH', base, { end: true }));
      toast('The event has ended.');
    } catch (e) {
      toast(`Could not end the event: ${e.message}`, { error: true });
    }
  });

  $('delete-event').addEventListener('click', async () => {
    if (!await confirm('Delete the event?', 'Its labs end, and the event, its grid and its results are deleted for good. Export the results first if you want them.', 'Delete')) return;
    try {
      await api('DELETE', base);
      location.assign('/events');
    } catch (e) {
      toast(`Could not delete the event: ${e.message}`, { error: true });
    }
  });

  function confirm(title, text, button) {
    const d = $('confirm-action');
    d.querySelector('h2').textContent = title;
    d.querySelector('.text').textContent = text;
    d.querySelector('button[value="confirm"]').textContent = button;
    return askDialog('confirm-action').then((v) => v === 'confirm');
  }

  return { render };
}
