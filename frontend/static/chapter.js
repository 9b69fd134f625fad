// The chapter page: lesson steps as tabs, the resizable split, run and copy
// buttons on code blocks, hints, live task status, and the sandbox session
// with its terminal and event stream. Each job has its module in chapter/;
// this one wires them together. Every text that came from a user or the
// server is set with textContent.
import { $ } from './chapter/page.js';
import { initSteps } from './chapter/steps.js';
import { initSplit } from './chapter/split.js';
import { initLesson } from './chapter/lesson.js';
import { createSession } from './chapter/session.js';
import { initSolutions } from './chapter/solutions.js';
import { initDock } from './chapter/dock.js';
import { initViews, showView } from './chapter/views.js';

initSteps();
initDock();
initSplit();
initViews();
const session = createSession();
initLesson({ run: session.run, save: session.save });
initSolutions({ run: session.run });

// Alt+1 / Alt+2 move between lesson and terminal (the terminal keeps Tab).
const lessonBody = $('#lesson-body');
window.addEventListener('keydown', (ev) => {
  if (!ev.altKey || ev.ctrlKey || ev.metaKey) return;
  if (ev.code === 'Digit1') {
    ev.preventDefault();
    ev.stopPropagation();
    showView('lesson');
    lessonBody.focus();
  } else if (ev.code === 'Digit2') {
    ev.preventDefault();
    ev.stopPropagation();
    showView('console');
    session.focusTerminal();
  }
}, true);

// A session started earlier (another tab, before a reload) resumes by itself.
session.resume();
session.preloadTerminal();
