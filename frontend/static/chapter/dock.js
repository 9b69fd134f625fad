// The task dock: the current step's tasks, pinned at the foot of the
// lesson while its task list is scrolled out of view, each with its state;
// a click brings the task into view.
import { $, $$ } from './page.js';
import { currentStep } from './steps.js';

const dock = $('#task-dock');
const list = $('.task-dock-list', dock);
const lessonBody = $('#lesson-body');
const stateLabel = { passed: 'passed', failing: 'not passed yet', error: 'could not be checked', checking: 'checking', open: 'not passed yet' };

let listVisible = false; // the step's own task list is on screen

function render() {
  const step = currentStep();
  const tasks = $$(`.task[data-step="${CSS.escape(step)}"]`);
  dock.hidden = tasks.length === 0 || listVisible;
  list.replaceChildren(...tasks.map((li) => {
    const item = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'task-chip';
    b.dataset.status = li.dataset.status;
    const title = $('.task-title', li).textContent;
    b.title = `${title} (${stateLabel[li.dataset.status] || li.dataset.status})`;
    const icon = document.createElement('span');
    icon.className = 'task-icon';
    icon.setAttribute('aria-hidden', 'true');
    const text = document.createElement('span');
    text.className = 'task-chip-title';
    text.textContent = title;
    b.append(icon, text);
    // Scroll the lesson only: scrollIntoView would also move the page,
    // whose own scrolling the layout hides.
    b.addEventListener('click', () => {
      const top = li.getBoundingClientRect().top - lessonBody.getBoundingClientRect().top + lessonBody.scrollTop;
      lessonBody.scrollTo({ top: Math.max(0, top - lessonBody.clientHeight / 3), behavior: 'smooth' });
    });
    item.append(b);
    return item;
  }));
}

export function initDock() {
  const observer = new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (e.target.closest('.step')?.dataset.step === currentStep()) listVisible = e.isIntersecting;
    }
    render();
  }, { root: lessonBody, threshold: 0.15 });
  for (const section of $$('.step .tasks')) observer.observe(section);
  new MutationObserver(render).observe(lessonBody, { subtree: true, attributes: true, attributeFilter: ['data-status'] });
  window.addEventListener('kubelab:step', () => { listVisible = false; render(); });
  render();
}
