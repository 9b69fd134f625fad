// The tasks of the chapter: their status from the API and the event
// stream, the Check buttons, and the progress bar and step marks.
import { api, toast, busy } from '../api.js';
import { $, $$ } from './page.js';
import { tabs } from './steps.js';

const taskEls = new Map($$('.task').map((li) => [li.dataset.task, li]));
const totalTasks = taskEls.size;
const progress = $('#progress');
const progressText = $('#progress-text');

function setTaskStatus(li, status) {
  li.dataset.status = status;
  const label = { passed: 'passed', failing: 'not passed yet', error: 'could not be checked', checking: 'checking', open: 'not passed yet' }[status];
  $('.task-state', li).textContent = label || status;
}

function renderChecks(li, checks, show) {
  const ul = $('.checks', li);
  ul.replaceChildren();
  for (const c of checks || []) {
    const item = document.createElement('li');
    item.className = c.error ? 'err' : c.passed ? 'ok' : '';
    const body = document.createElement('span');
    body.textContent = c.error ? `Could not check: ${c.error}` : (c.message || (c.passed ? 'OK' : 'Not yet'));
    if (c.detail && !c.passed) {
      const d = document.createElement('span');
      d.className = 'detail';
      d.textContent = c.detail;
      body.append(d);
    }
    item.append(body);
    ul.append(item);
  }
  ul.hidden = !show || ul.childElementCount === 0;
}

/** Applies one task result from the API or the event stream. */
function applyTask(t, { explicit = false } = {}) {
  const li = taskEls.get(t.id);
  if (!li) return;
  const was = li.dataset.status;
  if (explicit) li.dataset.checked = 'true';
  // A task passed once stays done (the learner may clean up afterwards),
  // as in the stored progress.
  if (t.passed) li.dataset.ever = 'true';
  const ever = !!li.dataset.ever;
  const hasError = (t.checks || []).some((c) => c.error);
  let status = 'open';
  if (t.passed || ever) status = 'passed';
  else if (hasError) status = 'error';
  else if (li.dataset.checked || was === 'failing') status = 'failing';
  setTaskStatus(li, status);
  li.dataset.score = String(t.passed ? (t.score ?? li.dataset.points) : ever ? li.dataset.points : (t.score ?? 0));
  $('.task-icon', li).title = ever && !t.passed ? 'Passed earlier (the objects have changed since)' : '';
  renderChecks(li, t.checks, (status === 'error' || status === 'failing') && !ever);
  if (status === 'passed' && was !== 'passed') {
    li.classList.remove('just-passed');
    void li.offsetWidth; // restart the animation
    li.classList.add('just-passed');
    const title = $('.task-title', li).textContent;
    toast(`✓ Task passed: ${title}`);
  }
  updateProgress(status === 'passed' && was !== 'passed');
}

function applyAll(list) {
  for (const t of list || []) applyTask(t);
}

function formatScore(n) {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

function updateProgress(justPassed) {
  let passed = 0;
  let score = 0;
  for (const li of taskEls.values()) {
    if (li.dataset.status === 'passed') passed++;
    score += Number(li.dataset.score) || 0;
  }
  progress.value = passed;
  progress.textContent = `${passed} of ${totalTasks}`;
  $('[data-passed]', progressText).textContent = String(passed);
  $('[data-score]', progressText).textContent = formatScore(score);
  for (const tab of tabs) {
    const mine = [...taskEls.values()].filter((li) => li.dataset.step === tab.dataset.step);
    if (mine.length > 0) tab.classList.toggle('done', mine.every((li) => li.dataset.status === 'passed'));
  }
  if (justPassed && passed === totalTasks && totalTasks > 0) {
    const done = document.getElementById('chapter-done');
    if (done && !done.open) done.showModal();
  }
}

/**
 * Binds the Check buttons; session() is the current session JSON or null.
 * @param {{session: () => any}} opts
 */
export function createTasks({ session }) {
  for (const li of taskEls.values()) {
    const button = $('[data-check]', li);
    button.addEventListener('click', () => {
      const s = session();
      if (!s || s.status !== 'ready') {
        toast('Start the lab first: tasks are checked against your sandbox.');
        return;
      }
      const before = li.dataset.status;
      setTaskStatus(li, 'checking');
      busy(button, async () => {
        try {
          const t = await api('POST', `/api/v1/sessions/${s.id}/tasks/${encodeURIComponent(li.dataset.task)}/check`, {});
          applyTask(t, { explicit: true });
        } catch (e) {
          setTaskStatus(li, before);
          toast(`Check failed: ${e.message}`, { error: true });
        }
      });
    });
  }

  return {
    /** Applies a list of task results. */
    apply: applyAll,
    /** Loads the status of every task of a ready session. */
    async load() {
      const s = session();
      if (!s || s.status !== 'ready') return;
      try {
        applyAll(await api('GET', `/api/v1/sessions/${s.id}/tasks`));
      } catch (e) {
        if (e.status !== 409) toast(`Could not load the task status: ${e.message}`, { error: true });
      }
    },
  };
}
