// The event's audit: what instructors did to learners' labs and terminals
// (watched, typed, reset, extended, ended, fast-forwarded), read when the
// list is opened. Under hidden names a learner is shown by number.
import { api } from '../api.js';
import { el, formatTime } from './format.js';

/**
 * @param {ReturnType<import('./state.js').createState>} state
 */
export function initAudit(state) {
  const details = document.getElementById('audit');
  const list = document.getElementById('audit-list');

  function learnerName(name) {
    if (!state.hideNames) return name;
    const same = [...state.learners.values()].filter((l) => l.name === name);
    return same.length === 1 ? state.displayName(same[0]) : 'a learner';
  }

  async function load() {
    try {
      const { entries } = await api('GET', `/api/v1/events/${encodeURIComponent(state.id)}/audit`);
      list.replaceChildren(...(entries || []).map((a) =>
        el('li', '', `${formatTime(a.at)}: ${a.actor || 'kubelab'}, ${a.action}${a.learner ? `, ${learnerName(a.learner)}` : ''}`)));
      if (!list.children.length) list.append(el('li', 'muted', 'Nothing yet.'));
    } catch (e) {
      list.replaceChildren(el('li', 'form-error', e.message));
    }
  }
  details.addEventListener('toggle', () => { if (details.open) load(); });
  state.on((c) => { if (c.type === 'view' && details.open) load(); });
}
