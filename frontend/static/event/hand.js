// A raised hand in a learner's row: a marker that opens a popover with
// the task, its failing check, the learner's message and their last
// commands, and "Lower hand".
import { el, formatClock } from './format.js';

/**
 * The hand marker for learner l (whose hand is raised), named after their
 * display name; state gives task and chapter titles.
 */
export function handMarker(state, l) {
  const h = l.hand;
  const wrap = el('span', 'hand');
  const id = `hand-${l.id}`;
  const open = el('button', 'hand-flag', 'hand up');
  open.type = 'button';
  open.setAttribute('popovertarget', id);
  open.title = `Hand raised at ${formatClock(h.raised_at)}`;
  open.setAttribute('aria-label', `${state.displayName(l)} raised a hand at ${formatClock(h.raised_at)}: details`);
  const pop = el('div', 'hand-pop');
  pop.id = id;
  pop.popover = 'auto';
  const head = el('p', 'hand-head');
  head.append(el('strong', '', `${state.displayName(l)} raised a hand`), ` at ${formatClock(h.raised_at)}`);
  pop.append(head);
  if (h.task) {
    const t = state.task(h.chapter, h.task);
    pop.append(el('p', 'hand-task', `On: ${t?.title || h.task} (${state.chapterTitle(h.chapter)})`));
  }
  if (h.check) pop.append(el('p', 'hand-check', `Failing: ${h.check}`));
  if (h.message) pop.append(el('blockquote', 'hand-message', h.message));
  if (h.commands?.length) {
    pop.append(el('p', 'muted small', `Last ${h.commands.length === 1 ? 'command' : `${h.commands.length} commands`}, oldest first:`));
    pop.append(el('pre', 'hand-commands', h.commands.join('\n')));
  } else {
    pop.append(el('p', 'muted small', 'No command typed yet.'));
  }
  const lower = el('button', 'btn small', 'Lower hand');
  lower.type = 'button';
  lower.dataset.act = 'lower-hand';
  pop.append(lower);
  wrap.append(open, pop);
  return wrap;
}
