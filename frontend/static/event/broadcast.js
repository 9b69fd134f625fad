// "Message the room": a banner to every learner of the event, or a hint
// to the learners failing one task.
import { api, busy } from '../api.js';
import { el } from './format.js';

/**
 * @param {ReturnType<import('./state.js').createState>} state
 */
export function initBroadcast(state) {
  const form = document.getElementById('broadcast-form');
  const target = document.getElementById('broadcast-target');
  const error = form.querySelector('.form-error');
  const ok = form.querySelector('.form-ok');
  const everyone = target.options[0];

  function targets() {
    const keep = target.value;
    const groups = new Map();
    for (const t of state.tasks) {
      if (!groups.has(t.chapter)) {
        const g = document.createElement('optgroup');
        g.label = `A hint to the learners failing, in ${state.chapterTitle(t.chapter)}:`;
        groups.set(t.chapter, g);
      }
      const o = el('option', '', t.title);
      o.value = `${t.chapter}/${t.task}`;
      groups.get(t.chapter).append(o);
    }
    target.replaceChildren(everyone, ...groups.values());
    target.value = keep;
    if (target.selectedIndex < 0) target.value = '';
  }
  state.on((c) => { if (c.type === 'grid') targets(); });

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    error.hidden = true;
    ok.hidden = true;
    const message = form.elements.namedItem('message').value.trim();
    if (!message) {
      error.textContent = 'Write the message first.';
      error.hidden = false;
      return;
    }
    const body = { message };
    if (target.value) {
      const [chapter, ...task] = target.value.split('/');
      body.chapter = chapter;
      body.task = task.join('/');
    }
    busy(form.querySelector('button[type="submit"]'), async () => {
      try {
        const r = await api('POST', `/api/v1/events/${encodeURIComponent(state.id)}/broadcast`, body);
        const n = r?.sent ?? 0;
        ok.textContent = `Sent to ${n} ${n === 1 ? 'learner' : 'learners'}.`;
        ok.hidden = false;
        form.elements.namedItem('message').value = '';
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
      }
    });
  });
}
