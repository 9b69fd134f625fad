// "Watch terminal": a read-only live mirror of a learner's terminal in a
// dialog, over the learner's terminal protocol (terminal.js with a URL and
// readOnly). "Take over" asks the learner (POST …/takeover); their answer
// comes on the grid's stream, and a yes opens a writable connection
// (?write=1) behind the mirror, swapped in once it connects.
import { api, toast } from '../api.js';
import { attachTerminal } from '../terminal.js';
import { el } from './format.js';

const words = { connecting: 'Connecting…', connected: 'Watching, read-only', reconnecting: 'Reconnecting…', closed: 'Closed' };

/**
 * @param {ReturnType<import('./state.js').createState>} state
 * @returns {{watch: (learnerID: string) => void}}
 */
export function initWatch(state) {
  const dialog = document.getElementById('watch-dialog');
  const screens = document.getElementById('watch-screens');
  const status = document.getElementById('watch-status');
  const note = document.getElementById('watch-note');
  const takeBtn = document.getElementById('takeover-btn');
  const releaseBtn = document.getElementById('release-btn');
  let learner = '';
  let name = '';
  let mirror = null; // the read-only screen: {host, term}
  let writer = null; // the writable one, pending until the learner accepts: {host, term, active}

  const url = (write) => `/api/v1/events/${encodeURIComponent(state.id)}/learners/${encodeURIComponent(learner)}/terminal${write ? '?write=1' : ''}`;

  function attach(write) {
    const host = el('div', 'terminal-host watch-screen');
    host.classList.toggle('pending', write);
    screens.append(host);
    const screen = { host, active: false, term: null };
    screen.term = attachTerminal(host, {
      url: url(write),
      readOnly: !write,
      keepSize: write, // the learner's window keeps its size
      fontSize: 13,
      onStatus: (s, detail) => (write ? writerStatus(screen, s, detail) : mirrorStatus(screen, s, detail)),
    });
    return screen;
  }

  function drop(screen) {
    if (!screen) return;
    screen.term.close();
    screen.host.remove();
  }

  function show(s, text) {
    status.dataset.state = s;
    status.querySelector('.text').textContent = text;
  }

  function mirrorStatus(screen, s, detail) {
    if (screen !== mirror) return;
    show(s, s === 'closed' && detail ? `Closed: ${detail}` : words[s] || s);
  }

  function writerStatus(screen, s, detail) {
    if (screen !== writer) return;
    if (s === 'connected' && !screen.active) {
      // Accepted: the writable screen replays the terminal from its start.
      screen.active = true;
      drop(mirror);
      mirror = null;
      screen.host.classList.remove('pending');
      screen.term.fit();
      screen.term.focus();
      takeBtn.hidden = true;
      releaseBtn.hidden = false;
      note.textContent = `You are typing in ${name}'s terminal. They see everything you type, and can type too.`;
    }
    if (!screen.active) {
      if (s === 'closed') {
        drop(writer);
        writer = null;
        takeBtn.disabled = false;
        note.textContent = `${name} has not let you type (yet). You are still watching, read-only; ask again if you need to.`;
      }
      return;
    }
    show(s, s === 'connected' ? 'Typing' : s === 'closed' && detail ? `Closed: ${detail}` : words[s] || s);
  }

  takeBtn.addEventListener('click', async () => {
    takeBtn.disabled = true;
    try {
      await api('POST', `/api/v1/events/${encodeURIComponent(state.id)}/learners/${encodeURIComponent(learner)}/takeover`, {});
    } catch (e) {
      takeBtn.disabled = false;
      toast(`Could not ask to type: ${e.message}`, { error: true });
      return;
    }
    note.textContent = `Asked ${name} to let you type. Waiting for their answer on their page…`;
  });

  document.addEventListener('kubelab:takeover', (e) => {
    const answer = /** @type {CustomEvent} */ (e).detail;
    if (!dialog.open || answer.learner !== learner || writer) return;
    if (!answer.accepted) {
      takeBtn.disabled = false;
      note.textContent = `${name} said no. You are still watching, read-only; ask again if you need to.`;
      return;
    }
    writer = attach(true);
  });

  releaseBtn.addEventListener('click', () => {
    drop(writer);
    writer = null;
    releaseBtn.hidden = true;
    takeBtn.hidden = false;
    takeBtn.disabled = false;
    readOnlyNote();
    mirror = attach(false);
  });

  document.getElementById('watch-close').addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    drop(writer);
    drop(mirror);
    writer = mirror = null;
    learner = '';
  });

  function readOnlyNote() {
    note.textContent = `Read-only: you see what ${name} sees, live. They are told that you are watching.`;
  }

  return {
    watch(id) {
      const l = state.learners.get(id);
      if (!l) return;
      if (dialog.open) dialog.close();
      learner = id;
      name = state.displayName(l);
      dialog.querySelector('.who').textContent = name;
      takeBtn.hidden = false;
      takeBtn.disabled = false;
      releaseBtn.hidden = true;
      readOnlyNote();
      show('connecting', words.connecting);
      dialog.showModal();
      mirror = attach(false);
    },
  };
}
