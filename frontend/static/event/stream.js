// The grid's live feed: the server-sent events of
// /api/v1/events/{id}/grid/events ("grid" replaces everything, "learner"
// one row, "tasks" the columns' pass rates, "event" the event, "hand" a
// raised or lowered hand, "takeover" a learner's answer to a take-over). No polling: EventSource reconnects by itself,
// and after a refused connection the page tries again a little later.
import { api } from '../api.js';

const labels = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', gone: 'This event no longer exists' };

/**
 * @param {ReturnType<import('./state.js').createState>} state
 */
export function connectStream(state) {
  const status = document.getElementById('stream-status');
  const url = `/api/v1/events/${encodeURIComponent(state.id)}/grid/events`;
  let retry = 0;

  function show(s) {
    status.dataset.state = s;
    status.querySelector('.text').textContent = labels[s];
  }

  function on(es, name, fn) {
    es.addEventListener(name, (e) => {
      let data;
      try {
        data = JSON.parse(e.data);
      } catch {
        return;
      }
      fn(data);
    });
  }

  function open() {
    const es = new EventSource(url);
    on(es, 'grid', (g) => { retry = 0; show('live'); state.setGrid(g); });
    on(es, 'learner', (l) => state.setLearner(l));
    on(es, 'tasks', (t) => state.setTasks(t));
    on(es, 'event', (ev) => state.setEvent(ev));
    on(es, 'hand', (h) => state.setHand(h));
    // A learner's answer to a take-over: watch.js waits for it.
    on(es, 'takeover', (a) => document.dispatchEvent(new CustomEvent('kubelab:takeover', { detail: a })));
    es.onerror = () => {
      if (es.readyState !== EventSource.CLOSED) {
        show('reconnecting');
        return;
      }
      // Refused (not a stream): the event may be gone, or the server
      // restarting. Ask which, then try again.
      es.close();
      show('reconnecting');
      api('GET', `/api/v1/events/${encodeURIComponent(state.id)}`).then(() => later(), (e) => {
        if (e.status === 404) show('gone');
        else later();
      });
    };
  }

  function later() {
    retry = Math.min(retry + 1, 6);
    setTimeout(open, 1000 * 2 ** retry);
  }

  open();
}
