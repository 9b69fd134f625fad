// An exam attempt: the clock (from the server's deadline, corrected for
// this computer's clock), the drawn tasks with their namespace, flags and
// notes, the terminal, and Submit. The server holds the deadline and
// grades at it whether or not this page is open; the page follows.
import { api, toast, askDialog } from './api.js';
import { attachTerminal } from './terminal.js';

const main = document.querySelector('main[data-attempt]');
const id = main.dataset.attempt;
const el = {
  status: document.getElementById('exam-status'),
  timer: document.getElementById('exam-timer'),
  submit: document.getElementById('exam-submit'),
  tasks: document.getElementById('exam-tasks'),
  task: document.getElementById('exam-task'),
  terminal: document.getElementById('terminal'),
  termStatus: document.getElementById('term-status'),
};
const labels = { provisioning: 'Preparing', running: 'Running', finished: 'Finished', failed: 'Failed' };

let attempt = null;
let skew = 0; // server clock − this computer's clock, in ms
let term = null;
let shown = ''; // the task shown
const warned = new Set();

async function refresh() {
  try {
    const a = await api('GET', `/api/v1/attempts/${encodeURIComponent(id)}`);
    skew = Date.parse(a.now) - Date.now();
    adopt(a);
  } catch (e) {
    if (e.status === 404) location.assign('/exams');
    // Anything else: the next refresh retries.
  }
}

function adopt(a) {
  const first = !attempt || attempt.status !== a.status;
  attempt = a;
  el.status.dataset.status = a.status === 'running' ? 'ready' : a.status;
  el.status.textContent = labels[a.status] || a.status;
  if (a.status === 'finished') {
    location.assign(`/exams/attempts/${encodeURIComponent(id)}/review`);
    return;
  }
  if (a.status === 'failed') {
    el.task.replaceChildren(paragraph(a.reason || 'The exam could not start.'));
    return;
  }
  if (a.status !== 'running') return;
  el.submit.disabled = false;
  if (first) renderTasks();
  if (!term) {
    term = attachTerminal(el.terminal, {
      url: `/api/v1/attempts/${encodeURIComponent(id)}/terminal`,
      onStatus: (state) => {
        el.termStatus.dataset.state = state;
        el.termStatus.querySelector('.text').textContent = state === 'connected' ? 'Connected' : state;
      },
    });
  }
  tick();
}

function paragraph(text) {
  const p = document.createElement('p');
  p.textContent = text;
  return p;
}

function renderTasks() {
  el.tasks.replaceChildren(...attempt.tasks.map((t, i) => {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'exam-task-tab';
    b.dataset.task = t.id;
    b.textContent = `${i + 1}`;
    b.title = `${t.title} (${t.weight} points)`;
    b.classList.toggle('flagged', t.flagged);
    b.addEventListener('click', () => show(t.id));
    li.append(b);
    return li;
  }));
  show(shown || attempt.tasks[0]?.id);
}

function show(taskID) {
  const i = attempt.tasks.findIndex((t) => t.id === taskID);
  if (i < 0) return;
  const t = attempt.tasks[i];
  shown = t.id;
  for (const b of el.tasks.querySelectorAll('.exam-task-tab')) b.setAttribute('aria-current', String(b.dataset.task === t.id));
  const head = document.createElement('h1');
  head.textContent = `Task ${i + 1} of ${attempt.tasks.length}: ${t.title}`;
  const meta = paragraph(`${t.weight} points`);
  meta.className = 'muted small';
  const nodes = [head, meta];
  if (t.namespace) {
    const ns = paragraph('Work in namespace ');
    const code = document.createElement('code');
    code.textContent = t.namespace;
    ns.append(code, '. Make it kubectl\'s default:');
    const pre = document.createElement('pre');
    const c = document.createElement('code');
    c.textContent = t.switch;
    pre.append(c);
    pre.className = 'exam-switch';
    const run = document.createElement('button');
    run.type = 'button';
    run.className = 'btn small';
    run.textContent = 'Type it into the terminal';
    run.addEventListener('click', () => { if (term?.typeText(`${t.switch}\n`) === true) term.focus(); });
    nodes.push(ns, pre, run);
  }
  const text = document.createElement('div');
  text.className = 'exam-text';
  // The task text is the server's rendering of the exam's own Markdown.
  text.innerHTML = t.text;
  text.querySelector('h1')?.remove();
  const flag = document.createElement('label');
  flag.className = 'exam-flag';
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.checked = t.flagged;
  box.addEventListener('change', () => mark(t, { flagged: box.checked }));
  flag.append(box, ' Flag this task to come back to it');
  const note = document.createElement('textarea');
  note.className = 'exam-note';
  note.placeholder = 'Your notes on this task (only you see them)';
  note.setAttribute('aria-label', 'Notes');
  note.value = t.note || '';
  note.addEventListener('change', () => mark(t, { note: note.value }));
  nodes.push(text, flag, note);
  el.task.replaceChildren(...nodes);
}

async function mark(t, change) {
  try {
    const m = await api('PATCH', `/api/v1/attempts/${encodeURIComponent(id)}/tasks/${encodeURIComponent(t.id)}`, change);
    t.flagged = m.flagged || false;
    t.note = m.note || '';
    el.tasks.querySelector(`[data-task="${CSS.escape(t.id)}"]`)?.classList.toggle('flagged', t.flagged);
  } catch (e) {
    toast(`Could not save: ${e.message}`, { error: true });
  }
}

function tick() {
  if (!attempt?.deadline || attempt.status !== 'running') return;
  const left = Date.parse(attempt.deadline) - (Date.now() + skew);
  const s = Math.max(0, Math.round(left / 1000));
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  el.timer.textContent = hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
  el.timer.dateTime = attempt.deadline;
  el.timer.classList.toggle('soon', s <= 300);
  for (const min of [30, 15, 5]) {
    if (s <= min * 60 && s > (min - 1) * 60 && !warned.has(min)) {
      warned.add(min);
      toast(`${min} minutes left.`, { ms: 8000 });
    }
  }
  if (s === 0) refresh(); // the server grades at the deadline
}

el.submit.addEventListener('click', async () => {
  if (await askDialog('confirm-submit') !== 'confirm') return;
  el.submit.disabled = true;
  try {
    await api('POST', `/api/v1/attempts/${encodeURIComponent(id)}/submit`, {});
    location.assign(`/exams/attempts/${encodeURIComponent(id)}/review`);
  } catch (e) {
    el.submit.disabled = false;
    toast(`Could not submit: ${e.message}`, { error: true });
  }
});

refresh();
setInterval(refresh, 4000);
setInterval(tick, 1000);
