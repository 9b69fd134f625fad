// The live grid: a row per learner, a column per task (grouped by
// chapter, each header with its pass rate), cells coloured by state with
// the details in their title, the stuck flag and a raised hand on the
// row, a row's menu of actions, sorting and hidden names. It renders the
// state; it never fetches.
import { el, formatClock, formatTime, timeLeft } from './format.js';
import { handMarker } from './hand.js';

const stateWords = { not_started: 'not started', failing: 'failing', passed: 'passed' };
const labWords = { queued: 'lab queued', provisioning: 'lab starting', ready: 'lab running', failed: 'lab failed', expired: 'lab expired', ended: 'lab ended' };

/** The per-learner actions a row's menu offers, in its order. */
export const rowActions = [
  ['watch', 'Watch terminal'],
  ['extend', 'Extend lab'],
  ['reset', 'Reset lab'],
  ['fast-forward', 'Fast-forward…'],
  ['end', 'End lab'],
];

/**
 * Renders state into the table #grid and keeps it current.
 * @param {ReturnType<import('./state.js').createState>} state
 */
export function initGrid(state) {
  const table = document.getElementById('grid');
  const empty = document.getElementById('grid-empty');
  const count = document.getElementById('grid-count');
  const sort = document.getElementById('grid-sort');
  const hide = document.getElementById('hide-names');
  sort.value = state.sort;
  hide.checked = state.hideNames;
  sort.addEventListener('change', () => state.setView({ sort: sort.value }));
  hide.addEventListener('change', () => state.setView({ hideNames: hide.checked }));
  document.body.classList.toggle('names-hidden', state.hideNames);

  state.on((change) => {
    switch (change.type) {
      case 'grid':
        renderHead();
        renderRows();
        break;
      case 'tasks':
        renderHead();
        break;
      case 'event':
        counts();
        break;
      case 'view':
        document.body.classList.toggle('names-hidden', state.hideNames);
        renderRows();
        break;
      case 'learner':
        updateRow(change.id, change.isNew);
        break;
    }
  });

  // The labs' time left, as the clock moves (no request).
  setInterval(() => {
    for (const t of table.querySelectorAll('time.lab-expiry')) t.textContent = ` · ${timeLeft(t.dateTime)}`;
  }, 30000);

  function renderHead() {
    const groups = el('tr');
    const learner = el('th', 'learner-col', 'Learner');
    learner.scope = 'col';
    learner.rowSpan = 2;
    const done = el('th', 'num done-col', 'Done');
    done.scope = 'col';
    done.rowSpan = 2;
    groups.append(learner, done);
    const columns = el('tr');
    let n = 0;
    state.tasks.forEach((t, i) => {
      if (i === 0 || state.tasks[i - 1].chapter !== t.chapter) {
        n = 0;
        const span = state.tasks.filter((x) => x.chapter === t.chapter).length;
        const g = el('th', 'chapter-group', state.chapterTitle(t.chapter));
        g.scope = 'colgroup';
        g.colSpan = span;
        groups.append(g);
      }
      n++;
      const th = el('th', `task-col${n === 1 ? ' chapter-start' : ''}`);
      th.scope = 'col';
      th.dataset.task = `${t.chapter}/${t.task}`;
      const rate = Math.round((t.pass_rate || 0) * 100);
      th.title = `${t.title}: passed by ${rate}% of the learners`;
      th.dataset.rate = rate >= 75 ? 'high' : rate >= 25 ? 'mid' : 'low';
      th.append(el('span', 'task-num', n), el('span', 'task-rate', `${rate}%`));
      th.append(el('span', 'visually-hidden', ` ${t.title}`));
      columns.append(th);
    });
    const actions = el('th', 'actions-col');
    actions.rowSpan = 2;
    actions.append(el('span', 'visually-hidden', 'Actions'));
    groups.append(actions);
    table.tHead.replaceChildren(groups, columns);
  }

  function sorted() {
    const list = [...state.learners.values()];
    const name = (a, b) => state.hideNames
      ? (state.numbers.get(a.id) || 0) - (state.numbers.get(b.id) || 0)
      : a.name.localeCompare(b.name, undefined, { sensitivity: 'base' }) || a.id.localeCompare(b.id);
    const passed = (l) => l.tasks.filter((c) => c.state === 'passed').length;
    switch (state.sort) {
      case 'progress':
        return list.sort((a, b) => passed(b) - passed(a) || name(a, b));
      case 'stuck': {
        const rank = (l) => (l.hand ? 0 : l.stuck ? 1 : 2);
        return list.sort((a, b) => rank(a) - rank(b) || name(a, b));
      }
      default:
        return list.sort(name);
    }
  }

  // renderRows rebuilds every row (a fresh grid after the stream
  // reconnected, a new sort), keeping the popover that was open open: the
  // instructor may be about to pick from a row's menu.
  function renderRows() {
    const open = openPopovers(table.tBodies[0]);
    table.tBodies[0].replaceChildren(...sorted().map(row));
    reopen(table.tBodies[0], open);
    counts();
  }

  /** @param {Element} root @returns {string[]} the ids of its open popovers */
  function openPopovers(root) {
    return [...root.querySelectorAll('[popover]')].filter((p) => p.matches(':popover-open')).map((p) => p.id);
  }

  /** @param {Element} root @param {string[]} ids */
  function reopen(root, ids) {
    for (const id of ids) {
      const p = root.querySelector(`[id="${CSS.escape(id)}"]`);
      if (p && !p.matches(':popover-open')) p.showPopover();
    }
  }

  // updateRow redraws one learner's row in place and moves it where the
  // sort puts it now. Moving a row takes it out of the document for a moment,
  // which closes a popover in it: rows move only where the order changed,
  // and the popovers that were open are opened again at the end.
  function updateRow(id, isNew) {
    const l = state.learners.get(id);
    if (!l) return;
    if (isNew && state.hideNames) {
      renderRows(); // the numbers may have moved
      return;
    }
    const body = table.tBodies[0];
    const open = openPopovers(body);
    const old = body.querySelector(`tr[data-learner="${CSS.escape(id)}"]`);
    const tr = row(l);
    if (old) old.replaceWith(tr);
    else body.append(tr);
    let prev = null;
    for (const l2 of sorted()) {
      const r = body.querySelector(`tr[data-learner="${CSS.escape(l2.id)}"]`);
      if (!r) continue;
      const want = prev ? prev.nextElementSibling : body.firstElementChild;
      if (r !== want) body.insertBefore(r, want);
      prev = r;
    }
    reopen(body, open);
    counts();
  }

  function counts() {
    const n = state.learners.size;
    count.textContent = n ? `(${n}${state.event ? ` of ${state.event.seats} seats` : ''})` : '';
    empty.hidden = n > 0;
    table.hidden = n === 0;
  }

  function row(l) {
    const tr = el('tr');
    tr.dataset.learner = l.id;
    tr.classList.toggle('stuck', !!l.stuck);
    tr.classList.toggle('hand-up', !!l.hand);
    const th = el('th', 'learner-cell');
    th.scope = 'row';
    const line = el('div', 'learner-line');
    line.append(el('span', 'learner-name', state.displayName(l)));
    if (l.guest && !state.hideNames) line.append(el('span', 'tag', 'guest'));
    if (l.stuck) {
      const s = el('span', 'tag warn stuck-flag', 'stuck');
      s.title = l.stuck_reason || `on the same task for over ${state.stuckAfterMinutes} minutes`;
      line.append(s);
    }
    if (l.hand) line.append(handMarker(state, l));
    const sub = el('div', 'learner-sub');
    if (l.session) {
      sub.append(`${labWords[l.session.status] || l.session.status} in ${state.chapterTitle(l.session.chapter)}`);
      if (l.session.status === 'ready' && l.session.expires_at) {
        const t = el('time', 'lab-expiry', ` · ${timeLeft(l.session.expires_at)}`);
        t.dateTime = l.session.expires_at;
        t.title = `The lab ends at ${formatClock(l.session.expires_at)}`;
        sub.append(t);
      }
    } else {
      sub.append('no lab yet');
    }
    th.append(line, sub);
    const passed = l.tasks.filter((c) => c.state === 'passed').length;
    const done = el('td', 'num done', `${passed}/${l.tasks.length}`);
    tr.append(th, done);
    l.tasks.forEach((c, i) => {
      const td = cell(l, c);
      td.classList.toggle('chapter-start', i === 0 || l.tasks[i - 1].chapter !== c.chapter);
      tr.append(td);
    });
    tr.append(menu(l));
    return tr;
  }

  function cell(l, c) {
    const td = el('td', 'cell');
    td.dataset.task = `${c.chapter}/${c.task}`;
    td.dataset.state = c.state;
    if (c.solution_revealed_at) td.dataset.solution = 'true';
    const current = l.current && l.current.chapter === c.chapter && l.current.task === c.task;
    td.classList.toggle('current', !!current);
    const t = state.task(c.chapter, c.task);
    const lines = [t?.title || c.task];
    if (c.state === 'passed') {
      let s = `Passed ${formatTime(c.passed_at)}`;
      if (c.checks) s += ` after ${c.checks} ${c.checks === 1 ? 'check' : 'checks'}`;
      lines.push(s);
    } else if (c.state === 'failing') {
      lines.push(c.message ? `Failing: ${c.message}` : 'Failing');
      if (c.checks) lines.push(`${c.checks} ${c.checks === 1 ? 'check' : 'checks'} so far`);
    } else {
      lines.push('Not started');
    }
    if (c.solution_revealed_at) lines.push(`Solution revealed ${formatTime(c.solution_revealed_at)}`);
    if (current) lines.push('The task they are on now');
    td.title = lines.join('\n');
    td.append(el('span', 'visually-hidden', stateWords[c.state] || c.state));
    return td;
  }

  function menu(l) {
    const td = el('td', 'row-actions');
    const id = `menu-${l.id}`;
    const open = el('button', 'btn small row-menu-btn', '⋯');
    open.type = 'button';
    open.setAttribute('popovertarget', id);
    open.setAttribute('aria-label', `Actions for ${state.displayName(l)}`);
    open.title = 'Actions';
    const pop = el('div', 'row-menu');
    pop.id = id;
    pop.popover = 'auto';
    for (const [act, label] of rowActions) {
      const b = el('button', `menu-item${act === 'end' ? ' danger' : ''}`, label);
      b.type = 'button';
      b.dataset.act = act;
      if (act !== 'fast-forward' && !l.session) b.disabled = true;
      if (act === 'watch' && l.session?.status !== 'ready') b.disabled = true;
      pop.append(b);
    }
    td.append(open, pop);
    return td;
  }
}
