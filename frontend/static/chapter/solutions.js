// "Show solution" on each task: asked first (unless shown before), then
// recorded by the server and shown as a command block with Run and Copy.
import { api, toast, busy } from '../api.js';
import { $$, chapterID, confirmDialog } from './page.js';
import { enhanceCodeBlock } from './lesson.js';

/** Binds the solution buttons; run(text) types into the terminal. */
export function initSolutions({ run }) {
  for (const button of $$('[data-solution]')) {
    button.addEventListener('click', () => busy(button, async () => {
      if (!button.hasAttribute('data-revealed') && !(await confirmDialog('confirm-solution'))) return;
      const task = button.closest('.task').dataset.task;
      let s;
      try {
        s = await api('POST', `/api/v1/chapters/${encodeURIComponent(chapterID)}/tasks/${encodeURIComponent(task)}/solution`, {});
      } catch (e) {
        toast(`Could not show the solution: ${e.message}`, { error: true });
        return;
      }
      const block = document.createElement('div');
      block.className = 'codeblock solution';
      block.dataset.action = 'run';
      const pre = document.createElement('pre');
      const code = document.createElement('code');
      code.className = 'language-bash';
      code.textContent = `${s.solution}\n`;
      pre.append(code);
      block.append(pre);
      enhanceCodeBlock(block, { run });
      button.replaceWith(block);
    }));
  }
}
