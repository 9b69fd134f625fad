// The instructor at the learner's terminal: a take-over request, which the
// learner allows or refuses (nobody types in their shell unasked), and,
// while an instructor's mirror of the terminal is open, a notice in the
// terminal's status line saying who is viewing it or typing in it.
import { api, toast, askDialog } from '../api.js';
import { $ } from './page.js';

const dialog = $('#takeover-dialog');
const who = $('.who', dialog);
const notice = $('#term-watched');

/**
 * Binds the take-over dialog and the notice. session() is the current
 * session JSON or null.
 * @param {{session: () => any}} opts
 */
export function createTakeover({ session }) {
  const watchers = new Map(); // "name|action" → {instructor, action}
  let watchedFor = ''; // session id the watchers belong to
  let asking = false;

  function render() {
    const all = [...watchers.values()];
    const list = [...all.filter((w) => w.action === 'takeover'), ...all.filter((w) => w.action !== 'takeover')];
    notice.hidden = list.length === 0;
    notice.dataset.action = list[0]?.action || '';
    notice.textContent = list.map((w) => (w.action === 'takeover'
      ? `${w.instructor} is typing in your terminal`
      : `${w.instructor} is viewing your terminal`)).join(' · ');
  }

  async function answer(id, accept) {
    try {
      await api('POST', `/api/v1/sessions/${encodeURIComponent(id)}/takeover`, { accept });
    } catch (e) {
      toast(`Could not answer the request: ${e.message}`, { error: true });
    }
  }

  return {
    /** A "takeover" event: {instructor}; the learner's answer goes back to the server. */
    async takeover(d) {
      const s = session();
      if (!s) return;
      who.textContent = d.instructor || 'Your instructor';
      if (asking) return; // the open dialog now names the latest asker
      asking = true;
      try {
        // Escape refuses. A session that ended meanwhile needs no answer.
        const allow = (await askDialog('takeover-dialog')) === 'allow';
        if (session()?.id === s.id) await answer(s.id, allow);
      } finally {
        asking = false;
      }
    },

    /** A "watched" event: {instructor, action: "view"|"takeover", active}. */
    watched(d) {
      const s = session();
      if (s && s.id !== watchedFor) { watchers.clear(); watchedFor = s.id; }
      const key = `${d.instructor}|${d.action}`;
      if (d.active) watchers.set(key, { instructor: d.instructor || 'Your instructor', action: d.action });
      else watchers.delete(key);
      render();
    },

    /** Follows the session: a new or ended session has no watchers. */
    update(s) {
      if (s.id === watchedFor && s.status === 'ready') return;
      watchers.clear();
      watchedFor = s.id;
      render();
      if (s.status !== 'ready' && dialog.open) dialog.close('');
    },
  };
}
