// The sandbox session of the chapter: start, resume after a reload, follow
// its status (event stream, with polling as a safety net), extend, reset
// and end; and, as the session's state changes, the overlay, the console
// bar's buttons, the terminal pane, the notices, the tasks and the
// workshop's events (banners, take-over requests, watchers).
import { api, toast, busy } from '../api.js';
import { $, $$, chapterID, userID, confirmDialog } from './page.js';
import { setOverlay, overlayState, showError } from './overlay.js';
import { resetProvisioning, provStep, provisioningDone } from './provisioning.js';
import { createTasks } from './tasks.js';
import { createTerminalPane } from './terminal-pane.js';
import { createEvents } from './events.js';
import { createNotices } from './notices.js';
import { createActivity } from './activity.js';
import { createEditor } from './editor.js';
import { createWorkshop } from './workshop.js';
import { showView } from './views.js';

const statusLabels = {
  none: 'No sandbox', provisioning: 'Preparing', queued: 'Queued', ready: 'Ready',
  failed: 'Failed', expired: 'Expired', ended: 'Ended',
};
const live = new Set(['provisioning', 'queued', 'ready']);

const sessionKey = `kubelab.session.${userID}.${chapterID}`;
const el = {
  status: $('#session-status'),
  extend: $('#extend-btn'),
  reset: $('#reset-btn'),
  end: $('#end-btn'),
  kubeconfig: $('#kubeconfig-link'),
  namespace: $('#term-ns'),
  queuePos: $('#queue-pos'),
  failReason: $('#fail-reason'),
  endedReason: $('#ended-reason'),
};

function remember(id) {
  try { localStorage.setItem(sessionKey, id); } catch { /* private mode */ }
}
function forget() {
  try { localStorage.removeItem(sessionKey); } catch { /* private mode */ }
}

function showStatus(st) {
  el.status.dataset.status = st;
  el.status.textContent = statusLabels[st] || st;
}

/** Binds the session's controls; returns what the rest of the page uses. */
export function createSession() {
  let current = null; // the session JSON as last seen
  let poll = 0;
  const session = () => current;

  const tasks = createTasks({ session });
  const pane = createTerminalPane({ session, onClosed: refresh });
  const editor = createEditor({ session, showTerminal: () => { window.dispatchEvent(new Event('resize')); pane.focus(); } });
  const activity = createActivity({ session, onActive: () => notices.active() });
  const notices = createNotices({
    session,
    stillHere: (button) => busy(button, async () => {
      try {
        await activity.now();
      } catch (e) {
        toast(`Could not tell kubelab you are here: ${e.message}`, { error: true });
      }
    }),
  });
  const workshop = createWorkshop({ session });
  const events = createEvents({
    on: {
      ...workshop.on,
      status: (d) => { if (d.id === current?.id) adopt(d); },
      progress: provStep,
      tasks: tasks.apply,
      expiring: notices.expiring,
      active: notices.active,
    },
    onLost: async () => {
      await refresh();
      if (current && live.has(current.status)) events.ensure(current.id);
    },
  });

  /** Takes a session JSON (from any source) as the current state. */
  function adopt(s) {
    const prev = current;
    current = s;
    const st = s.status;
    showStatus(st);
    if (live.has(st)) remember(s.id); else if (st !== 'failed') forget();

    const ready = st === 'ready';
    el.extend.hidden = !ready;
    el.kubeconfig.hidden = !ready;
    // The prompt names a namespace only once kubectl leaves the lab's own.
    el.namespace.hidden = !ready || !s.sandbox?.namespace;
    el.namespace.textContent = s.sandbox?.namespace ? `namespace ${s.sandbox.namespace}` : '';
    el.kubeconfig.href = `/api/v1/sessions/${encodeURIComponent(s.id)}/kubeconfig`;
    el.reset.hidden = !(ready || st === 'failed');
    el.end.hidden = !live.has(st) && st !== 'failed';
    notices.update(s, prev);
    workshop.update(s);
    if (!ready) editor.close();

    switch (st) {
      case 'provisioning':
        if (!prev || prev.status !== 'provisioning' || prev.id !== s.id) resetProvisioning();
        setOverlay('provisioning');
        pane.close();
        events.ensure(s.id);
        ensurePoll();
        break;
      case 'queued':
        el.queuePos.textContent = s.position ? String(s.position) : '—';
        setOverlay('queued');
        pane.close();
        events.ensure(s.id);
        ensurePoll();
        break;
      case 'ready':
        stopPoll();
        provisioningDone();
        events.ensure(s.id);
        pane.open();
        // The task list waits for the page's next idle moment: the shell's
        // first bytes come first.
        if (!prev || prev.status !== 'ready' || prev.id !== s.id) {
          (window.requestIdleCallback || ((f) => setTimeout(f, 0)))(() => tasks.load(), { timeout: 300 });
        }
        break;
      case 'failed':
        el.failReason.textContent = s.reason || 'The sandbox could not be prepared. No reason was given.';
        setOverlay('failed');
        pane.close();
        events.close();
        stopPoll();
        break;
      default: // ended, expired
        el.endedReason.textContent = st === 'expired'
          ? 'Your sandbox expired and was deleted. Your progress is saved.'
          : (s.reason || 'Your sandbox was deleted. Your progress is saved.');
        setOverlay('ended');
        pane.close();
        events.close();
        stopPoll();
        forget();
    }
  }

  async function start(button) {
    resetProvisioning();
    provStep({ message: 'Requesting a sandbox' });
    setOverlay('provisioning');
    showStatus('provisioning');
    await busy(button, async () => {
      try {
        adopt(await api('POST', `/api/v1/chapters/${encodeURIComponent(chapterID)}/session`, {}));
      } catch (e) {
        if (e.status === 401) {
          location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
          return;
        }
        showStatus('none');
        if (e.status === 409 && await showLabLimit(button)) return;
        showError(e.status === 503 ? `${e.message} Your request was not queued; try again shortly.` : e.message);
      }
    });
  }

  // showLabLimit lists the learner's running labs, each with End, when the
  // per-learner limit refused a start; ending one starts this lab. False
  // when the list cannot be had (the caller shows the plain message).
  async function showLabLimit(startButton) {
    let labs;
    try {
      labs = await api('GET', '/api/v1/sessions');
    } catch {
      return false;
    }
    const list = $('#lab-limit-list');
    list.replaceChildren(...labs.map((l) => {
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.href = l.url;
      a.textContent = l.title || l.chapter;
      const end = document.createElement('button');
      end.type = 'button';
      end.className = 'btn small danger';
      end.textContent = 'End it and start here';
      end.addEventListener('click', () => busy(end, async () => {
        try {
          await api('DELETE', `/api/v1/sessions/${encodeURIComponent(l.id)}`);
        } catch (e) {
          toast(`Could not end that lab: ${e.message}`, { error: true });
          return;
        }
        await start(startButton);
      }));
      li.append(a, ' ', end);
      return li;
    }));
    setOverlay('lab-limit');
    return true;
  }

  async function refresh() {
    const s = current;
    if (!s) return;
    try {
      adopt(await api('GET', `/api/v1/sessions/${encodeURIComponent(s.id)}`));
    } catch (e) {
      if (e.status === 404) {
        adopt({ ...s, status: 'ended', reason: 'This sandbox no longer exists. Your progress is saved.' });
      }
      // Anything else (network, restart): the next poll or event retries.
    }
  }

  function ensurePoll() {
    // Events carry every change; polling is a safety net for a lost stream.
    if (poll) return;
    poll = setInterval(refresh, 4000);
  }
  function stopPoll() {
    clearInterval(poll);
    poll = 0;
  }

  async function extend() {
    const s = current;
    try {
      adopt(await api('POST', `/api/v1/sessions/${encodeURIComponent(s.id)}/extend`, {}));
      notices.extended();
      toast(`Extended: ${$('#expiry time').textContent || 'your sandbox has more time'}.`);
    } catch (e) {
      toast(`Could not extend: ${e.message}`, { error: true });
      // At the lifetime cap: Extend can do nothing more for this lab.
      if (e.status === 409) {
        for (const b of [el.extend, ...$$('[data-extend]')]) {
          b.disabled = true;
          b.title = e.message;
          b.dataset.capped = 'true';
        }
      }
    }
  }

  for (const b of $$('[data-start]')) {
    b.addEventListener('click', () => start(b));
    // The page renders it disabled (a click before now did nothing), and
    // keeps it so where this kubelab cannot run the chapter.
    b.disabled = b.hasAttribute('data-unavailable');
  }
  for (const b of [el.extend, ...$$('[data-extend]')]) {
    b.addEventListener('click', async () => {
      await busy(b, extend);
      if (b.dataset.capped) b.disabled = true; // busy enabled it again
    });
  }

  el.reset.addEventListener('click', async () => {
    if (!(await confirmDialog('confirm-reset'))) return;
    const s = current;
    await busy(el.reset, async () => {
      try {
        pane.close();
        resetProvisioning();
        provStep({ message: 'Resetting the sandbox' });
        adopt(await api('POST', `/api/v1/sessions/${encodeURIComponent(s.id)}/reset`, {}));
      } catch (e) {
        toast(`Could not reset: ${e.message}`, { error: true });
        refresh();
      }
    });
  });

  el.end.addEventListener('click', async () => {
    if (!(await confirmDialog('confirm-end'))) return;
    const s = current;
    await busy(el.end, async () => {
      try {
        await api('DELETE', `/api/v1/sessions/${encodeURIComponent(s.id)}`);
        adopt({ ...s, status: 'ended', reason: 'You ended the session; the sandbox was deleted. Your progress is saved.' });
      } catch (e) {
        toast(`Could not end the session: ${e.message}`, { error: true });
      }
    });
  });

  return {
    focusTerminal: pane.focus,
    preloadTerminal: () => { pane.preload(); editor.preload(); },
    save: editor.saveBlock,

    /** Types a command into the terminal; tells the learner when it cannot. */
    run(text) {
      if (!current || current.status !== 'ready') {
        toast('Start the lab first: the command runs in your sandbox terminal.');
        const startButton = $('#start-btn');
        if (startButton && overlayState() === 'start') startButton.focus();
        return false;
      }
      if (!pane.ready) {
        toast('The terminal is still connecting; try again in a moment.');
        return false;
      }
      editor.showTerminal();
      showView('console');
      const sent = pane.typeText(`${text.replace(/\n+$/, '')}\n`);
      if (sent === 'fullscreen') {
        toast('A full-screen program (vim, less, top…) has the terminal: quit it first, then click Run again.');
        pane.focus();
        return false;
      }
      if (!sent) {
        toast('The terminal is not taking input right now; wait for it to reconnect.', { error: true });
        return false;
      }
      return true;
    },

    /** Resumes a session started earlier (another tab, before a reload). */
    async resume() {
      let id = '';
      try { id = localStorage.getItem(sessionKey) || ''; } catch { /* private mode */ }
      if (!id) return;
      setOverlay('connecting');
      try {
        const s = await api('GET', `/api/v1/sessions/${encodeURIComponent(id)}`);
        if (s.chapter && s.chapter !== chapterID) { forget(); setOverlay('start'); return; }
        if (s.status === 'ended' || s.status === 'expired') { forget(); setOverlay('start'); return; }
        adopt(s);
      } catch (e) {
        if (e.status === 404 || e.status === 401) {
          forget();
          setOverlay('start');
        } else {
          showError(`Could not resume your session: ${e.message}`);
        }
      }
    },
  };
}
