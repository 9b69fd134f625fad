// Lesson steps as tabs: arrow keys move between them, the URL hash names a
// step (or a heading inside one), and the last step is remembered per
// chapter.
import { $, $$, chapterID } from './page.js';

export const tabs = $$('.step-tab');
const panels = $$('.step[role="tabpanel"]');
const lessonBody = $('#lesson-body');
const stepKey = `kubelab.step.${chapterID}`;
const readKey = `kubelab.read.${chapterID}`;

// Steps the learner has opened. A step without tasks counts as done once
// read; one with tasks, once they all passed.
function readSteps() {
  try { return new Set(JSON.parse(localStorage.getItem(readKey) || '[]')); } catch { return new Set(); }
}
function markRead(id) {
  const read = readSteps();
  if (!read.has(id)) {
    read.add(id);
    try { localStorage.setItem(readKey, JSON.stringify([...read])); } catch { /* private mode */ }
  }
  markReadTabs();
}
function markReadTabs() {
  const read = readSteps();
  for (const t of tabs) {
    const panel = panels.find((p) => p.dataset.step === t.dataset.step);
    if (panel && !panel.querySelector('.task') && read.has(t.dataset.step)) t.classList.add('done');
  }
}

/** The step shown now. */
export function currentStep() {
  return panels.find((p) => !p.hidden)?.dataset.step || '';
}

function selectStep(id, { focus = false, keepScroll = false } = {}) {
  if (!panels.some((p) => p.dataset.step === id)) return false;
  for (const t of tabs) {
    const on = t.dataset.step === id;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    if (on) {
      t.scrollIntoView({ block: 'nearest', inline: 'nearest' });
      if (focus) t.focus();
    }
  }
  for (const p of panels) p.hidden = p.dataset.step !== id;
  if (!keepScroll) lessonBody.scrollTop = 0;
  markRead(id);
  window.dispatchEvent(new CustomEvent('kubelab:step', { detail: { step: id } }));
  try { localStorage.setItem(stepKey, id); } catch { /* private mode */ }
  if (location.hash !== `#${id}`) history.replaceState(null, '', `#${id}`);
  return true;
}

// A hash names a step, or a heading inside one.
function followHash() {
  const id = decodeURIComponent(location.hash.slice(1));
  if (!id) return false;
  if (selectStep(id)) return true;
  const target = document.getElementById(id);
  const panel = target && target.closest('.step[role="tabpanel"]');
  if (!panel) return false;
  selectStep(panel.dataset.step, { keepScroll: true });
  history.replaceState(null, '', `#${id}`);
  target.scrollIntoView({ block: 'start' });
  return true;
}

export function initSteps() {
  markReadTabs();
  markRead(currentStep());
  for (const t of tabs) {
    t.addEventListener('click', () => selectStep(t.dataset.step));
    t.addEventListener('keydown', (ev) => {
      const i = tabs.indexOf(t);
      let j = -1;
      if (ev.key === 'ArrowRight') j = (i + 1) % tabs.length;
      else if (ev.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
      else if (ev.key === 'Home') j = 0;
      else if (ev.key === 'End') j = tabs.length - 1;
      if (j < 0) return;
      ev.preventDefault();
      selectStep(tabs[j].dataset.step, { focus: true });
    });
  }
  for (const b of $$('[data-goto]')) {
    b.addEventListener('click', () => {
      selectStep(b.dataset.goto);
      lessonBody.focus({ preventScroll: true });
    });
  }
  window.addEventListener('hashchange', followHash);
  if (!followHash()) {
    let saved = '';
    try { saved = localStorage.getItem(stepKey) || ''; } catch { /* private mode */ }
    if (saved) selectStep(saved);
  }
}
