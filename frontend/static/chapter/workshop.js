// The chapter page of a learner in an instructor-led workshop: the
// workshop's name above the lesson with "Raise hand" (an optional message;
// the server adds the learner's task, failing check and last commands),
// and the events the instructor sends over the session's stream: banners
// and hints, take-over requests, and the notice that someone watches the
// terminal. The server renders the bar only for a chapter of the learner's
// workshop; the events work on every chapter.
import { api, toast, busy, askDialog } from '../api.js';
import { $ } from './page.js';
import { showBanner } from './banner.js';
import { createTakeover } from './takeover.js';

const handButton = $('#hand-btn'); // null outside a workshop
const handMessage = $('#hand-message');

function handKey(id) {
  return `kubelab.hand.${id}`;
}
function handUp(id) {
  try { return localStorage.getItem(handKey(id)) === '1'; } catch { return false; }
}
function rememberHand(id, up) {
  try {
    if (up) localStorage.setItem(handKey(id), '1'); else localStorage.removeItem(handKey(id));
  } catch { /* private mode */ }
}

function showHand(up) {
  if (!handButton) return;
  handButton.textContent = up ? 'Lower hand' : 'Raise hand';
  handButton.setAttribute('aria-pressed', String(up));
  handButton.classList.toggle('primary', up);
}

/**
 * Binds the workshop bar. session() is the current session JSON or null.
 * @param {{session: () => any}} opts
 */
export function createWorkshop({ session }) {
  const takeover = createTakeover({ session });

  async function raise(s) {
    handMessage.value = '';
    if (await askDialog('hand-dialog') !== 'confirm') return;
    const message = handMessage.value.trim();
    await api('POST', `/api/v1/sessions/${encodeURIComponent(s.id)}/hand`, message ? { message } : {});
    rememberHand(s.id, true);
    showHand(true);
    toast('Your hand is up: your instructor sees it with the task you are on.');
  }

  async function lower(s) {
    try {
      await api('DELETE', `/api/v1/sessions/${encodeURIComponent(s.id)}/hand`);
    } catch (e) {
      if (e.status !== 404) throw e; // 404: it was lowered already
    }
    rememberHand(s.id, false);
    showHand(false);
  }

  handButton?.addEventListener('click', () => busy(handButton, async () => {
    const s = session();
    if (!s || !['provisioning', 'queued', 'ready'].includes(s.status)) {
      toast('Start the lab first: your hand goes up with the task you are working on.');
      return;
    }
    try {
      if (handUp(s.id)) await lower(s); else await raise(s);
    } catch (e) {
      toast(`Could not ${handUp(s.id) ? 'lower' : 'raise'} your hand: ${e.message}`, { error: true });
    }
  }));

  return {
    /** Handlers for the session stream's workshop events, by event name. */
    on: {
      banner: showBanner,
      takeover: takeover.takeover,
      watched: takeover.watched,
      // {raised}: the instructor lowered the hand (helped, or from the grid).
      hand(d) {
        const s = session();
        if (!s) return;
        rememberHand(s.id, !!d.raised);
        showHand(!!d.raised);
      },
    },

    /** Follows a change of the session. */
    update(s) {
      showHand(handUp(s.id));
      takeover.update(s);
    },
  };
}
