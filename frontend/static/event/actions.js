// What the instructor does to a learner's lab, from a row's menu, or to
// everyone's from the bar above the grid: reset, extend, end, fast-forward
// to a task (the reference solutions of the tasks before it are applied).
// Whatever touches everyone, or loses a learner's work, is confirmed
// first; every result is shown: done for n, failed for whom and why.
import { api, askDialog, toast } from '../api.js';
import { el } from './format.js';

const verbs = {
  extend: {
    label: 'Extend',
    past: 'extended',
    what: 'More time for the running lab, up to its longest allowed lifetime.',
  },
  reset: {
    label: 'Reset',
    past: 'reset',
    what: 'The sandbox is made again from the chapter\'s start: what is in it now is lost. Progress stays.',
    confirmOne: true,
  },
  end: {
    label: 'End',
    past: 'ended',
    what: 'The lab ends and its sandbox is deleted. Progress stays; the learner can start the chapter again.',
    confirmOne: true,
  },
  'fast-forward': {
    label: 'Fast-forward',
    past: 'fast-forwarded',
    what: 'The reference solution of every task before the one you pick is run in the lab, as if typed: the learner lands on that task.',
  },
};

/**
 * Binds the row menus (in #grid) and the bulk bar.
 * @param {ReturnType<import('./state.js').createState>} state
 * @param {{watch: (learnerID: string) => void}} hooks
 */
export function initActions(state, hooks) {
  const base = `/api/v1/events/${encodeURIComponent(state.id)}`;
  const result = document.getElementById('action-result');

  document.getElementById('grid').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-act]');
    const tr = b?.closest('tr[data-learner]');
    if (!b || !tr || b.disabled) return;
    b.closest('[popover]')?.hidePopover();
    const id = tr.dataset.learner;
    const act = b.dataset.act;
    if (act === 'watch') hooks.watch(id);
    else if (act === 'lower-hand') lowerHand(id);
    else if (verbs[act]) perform(act, id);
  });
  for (const b of document.querySelectorAll('[data-bulk]')) {
    b.addEventListener('click', () => perform(b.dataset.bulk, '-'));
  }

  async function perform(action, user) {
    const verb = verbs[action];
    const who = user === '-' ? 'everyone' : state.displayName(state.learners.get(user));
    let body = {};
    if (action === 'fast-forward') {
      const to = await pickTask(user, who);
      if (!to) return;
      body = to;
    } else if (user === '-' || verb.confirmOne) {
      const dialog = document.getElementById('confirm-action');
      dialog.querySelector('h2').textContent = user === '-' ? `${verb.label} every learner's lab?` : `${verb.label} the lab of ${who}?`;
      dialog.querySelector('.text').textContent = verb.what;
      dialog.querySelector('button[value="confirm"]').textContent = user === '-' ? `${verb.label} all` : verb.label;
      if (await askDialog('confirm-action') !== 'confirm') return;
    }
    showResult({ state: 'busy', text: `${verb.label} for ${who}…` });
    try {
      const r = await api('POST', `${base}/learners/${encodeURIComponent(user)}/${action}`, body);
      report(verb, who, r || { done: 0, failed: [] });
    } catch (e) {
      showResult({ state: 'failed', text: `${verb.label} for ${who} failed: ${e.message}` });
      toast(`${verb.label} failed: ${e.message}`, { error: true });
    }
    refresh();
  }

  function report(verb, who, r) {
    const failed = r.failed || [];
    const done = r.done || 0;
    let text = `${verb.label} for ${who}: `;
    if (failed.length === 0) text += done === 1 ? 'done.' : `done for ${done} learners.`;
    else text += `done for ${done}, failed for ${failed.length}.`;
    const list = failed.map((f) => {
      const l = state.learners.get(f.learner);
      return `${l ? state.displayName(l) : f.name || f.learner}: ${f.error}`;
    });
    showResult({ state: failed.length === 0 ? 'ok' : done > 0 ? 'partial' : 'failed', text, list });
    toast(text, { error: failed.length > 0 && done === 0 });
  }

  function showResult({ state: s, text, list = [] }) {
    result.dataset.state = s;
    const p = el('p', 'action-text', text);
    const close = el('button', 'notice-close', '×');
    close.type = 'button';
    close.setAttribute('aria-label', 'Dismiss');
    close.addEventListener('click', () => { result.hidden = true; });
    const nodes = [p];
    if (list.length) {
      const ul = el('ul', 'action-failures');
      ul.append(...list.map((t) => el('li', '', t)));
      nodes.push(ul);
    }
    if (s !== 'busy') nodes.push(close);
    result.replaceChildren(...nodes);
    result.hidden = false;
  }

  // pickTask asks which task to fast-forward to; resolves to {chapter, task} or null.
  async function pickTask(user, who) {
    const dialog = document.getElementById('ff-dialog');
    const select = document.getElementById('ff-task');
    dialog.querySelector('h2').textContent = `Fast-forward ${who}`;
    dialog.querySelector('.text').textContent = verbs['fast-forward'].what;
    const groups = new Map();
    for (const t of state.tasks) {
      if (!groups.has(t.chapter)) {
        const g = document.createElement('optgroup');
        g.label = state.chapterTitle(t.chapter);
        groups.set(t.chapter, g);
      }
      const o = el('option', '', t.title);
      o.value = `${t.chapter}/${t.task}`;
      groups.get(t.chapter).append(o);
    }
    select.replaceChildren(...groups.values());
    // One learner: the task after the one they are on.
    const l = state.learners.get(user);
    if (l?.current) {
      const i = state.tasks.findIndex((t) => t.chapter === l.current.chapter && t.task === l.current.task);
      const next = state.tasks[i + 1];
      if (next && next.chapter === l.current.chapter) select.value = `${next.chapter}/${next.task}`;
    }
    if (await askDialog('ff-dialog') !== 'confirm' || !select.value) return null;
    const [chapter, ...rest] = select.value.split('/');
    return { chapter, task: rest.join('/') };
  }

  async function lowerHand(user) {
    try {
      await api('DELETE', `${base}/learners/${encodeURIComponent(user)}/hand`);
      state.setHand({ learner: user, hand: null });
    } catch (e) {
      toast(`Could not lower the hand: ${e.message}`, { error: true });
    }
  }

  // refresh re-reads the grid once after an action (the stream brings
  // the rows too; this makes the result visible at once).
  async function refresh() {
    try {
      state.setGrid(await api('GET', `${base}/grid`));
    } catch { /* the stream catches up */ }
  }
}
