// Notices about the sandbox, over the terminal, and its time left in the
// console bar: the simulated-cluster notice (shown once per session), the
// warning that its time is up soon (with Extend) and the warning that it
// will be ended because the learner seems to be gone (with "I'm still here").
import { $, $$ } from './page.js';

const sim = $('#sim-banner');
const simPill = $('#sim-pill');
const expiring = $('#expiring-banner');
const idle = $('#idle-banner');
const expiry = $('#expiry');

function clock(when) {
  return when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function simSeen(id) {
  try { return localStorage.getItem(`kubelab.simseen.${id}`) === '1'; } catch { return false; }
}

function dismissSim(id) {
  sim.hidden = true;
  try { localStorage.setItem(`kubelab.simseen.${id}`, '1'); } catch { /* private mode */ }
}

/**
 * Binds the notices. session() is the current session JSON or null;
 * stillHere runs when the learner answers the idle warning.
 * @param {{session: () => any, stillHere: (button: HTMLElement) => void}} opts
 */
export function createNotices({ session, stillHere }) {
  let simTimer = 0;

  function renderExpiry() {
    const s = session();
    const at = s && s.status === 'ready' && s.sandbox && s.sandbox.expires_at;
    expiry.hidden = !at;
    if (!at) return;
    const t = $('time', expiry);
    const when = new Date(at);
    const mins = Math.round((when.getTime() - Date.now()) / 60000);
    t.dateTime = when.toISOString();
    t.title = when.toLocaleString();
    if (mins <= 0) t.textContent = 'expires any moment';
    else if (mins <= 60) t.textContent = `${mins} min left`;
    else t.textContent = `${Math.floor(mins / 60)} h ${mins % 60} min left`;
    expiry.classList.toggle('soon', mins <= 5);
  }
  setInterval(renderExpiry, 15000);

  // The simulated-cluster notice covers part of the terminal: the pill brings it back.
  simPill.addEventListener('click', () => { sim.hidden = !sim.hidden; });
  for (const b of $$('[data-dismiss]')) {
    b.addEventListener('click', () => {
      const notice = b.closest('.notice');
      const s = session();
      if (notice === sim && s) dismissSim(s.id);
      notice.hidden = true;
    });
  }
  const stillHereButton = $('[data-still-here]', idle);
  stillHereButton.addEventListener('click', () => stillHere(stillHereButton));

  return {
    /** Follows a change of the session (prev: its state before, or null). */
    update(s, prev) {
      const ready = s.status === 'ready';
      const simulated = ready && s.sandbox && s.sandbox.simulated;
      simPill.hidden = !simulated;
      if (!simulated) sim.hidden = true;
      else if (!prev || prev.id !== s.id || prev.status !== 'ready') {
        sim.hidden = simSeen(s.id);
        // Shown once, it goes away by itself.
        clearTimeout(simTimer);
        if (!sim.hidden) simTimer = setTimeout(() => dismissSim(s.id), 15000);
      }
      if (!ready) {
        expiring.hidden = true;
        idle.hidden = true;
      }
      renderExpiry();
    },

    /** Shows an "expiring" event: {kind: "idle"|"ttl", message, time (of the end)}. */
    expiring(d) {
      const when = d.time ? new Date(d.time) : null;
      const valid = when && !Number.isNaN(when.getTime());
      if (d.kind === 'idle') {
        $('.text', idle).textContent = d.message ||
          `You seem to be away: your sandbox will be deleted ${valid ? `at ${clock(when)}` : 'soon'} unless you are still here.`;
        idle.hidden = false;
        return;
      }
      // "ttl", or a server that does not say.
      $('.text', expiring).textContent = d.message || 'Your sandbox expires soon. Extend it to keep working.';
      expiring.hidden = false;
      const s = session();
      if (valid && s?.sandbox) {
        s.sandbox.expires_at = when.toISOString();
        renderExpiry();
      }
    },

    /** Hides the idle warning: the learner is here. */
    active() {
      idle.hidden = true;
    },

    /** Hides the expiry warning: the sandbox got more time. */
    extended() {
      expiring.hidden = true;
    },
  };
}
