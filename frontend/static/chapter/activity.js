// Page interaction as learner activity: while a session's sandbox is
// ready, a key, a pointer press, a scroll or the tab coming back into view
// tells the server the learner is still here, so that it does not end the
// sandbox as idle. At most one call a minute; keys typed into the terminal
// are left out, the server counts those itself.
import { api } from '../api.js';

const minInterval = 60_000; // ms between two calls

/**
 * Starts watching. session() is the current session JSON or null;
 * onActive runs whenever the server took the call.
 * @param {{session: () => any, onActive: () => void}} opts
 */
export function createActivity({ session, onActive }) {
  let last = -Infinity; // performance.now() of the last call
  let lastFor = ''; // and its session
  let inflight = null; // that call, until it is answered

  function send(s) {
    last = performance.now();
    lastFor = s.id;
    const call = api('POST', `/api/v1/sessions/${encodeURIComponent(s.id)}/activity`)
      .then(() => onActive())
      .finally(() => { if (inflight === call) inflight = null; });
    inflight = call;
    return call;
  }

  function seen() {
    const s = session();
    if (!s || s.status !== 'ready') return;
    if (lastFor === s.id && performance.now() - last < minInterval) return;
    send(s).catch(() => { /* the next interaction after the interval tries again */ });
  }

  // Capturing on window sees every event first, even one a later handler
  // stops (Alt+1), and every element's scroll, which does not bubble.
  const opts = { capture: true, passive: true };
  window.addEventListener('keydown', (ev) => {
    if (!(ev.target instanceof Element && ev.target.closest('#terminal'))) seen();
  }, opts);
  window.addEventListener('pointerdown', seen, opts);
  window.addEventListener('scroll', seen, opts);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') seen();
  });

  return {
    /** Tells the server at once, whatever the interval; rejects with APIError. */
    async now() {
      const s = session();
      if (!s || s.status !== 'ready') return;
      // The press on the button may have sent the call already.
      await (inflight && lastFor === s.id ? inflight : send(s));
    },
  };
}
