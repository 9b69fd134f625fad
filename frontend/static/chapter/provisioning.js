// The provisioning card: the steps the server reports while it prepares a
// sandbox, and a progress bar that estimates how far it got.
import { $ } from './page.js';

const expectedSteps = 6;
const provProgress = $('#prov-progress');
const provSteps = $('#prov-steps');
let provCount = 0;

export function resetProvisioning() {
  provCount = 0;
  provSteps.replaceChildren();
  provProgress.value = 5;
}

/** Shows one progress event ({step, message}) as the current step. */
export function provStep(ev) {
  const text = ev.message || ev.step || 'Working';
  const last = provSteps.lastElementChild;
  if (last && last.textContent === text) return;
  if (last) last.classList.remove('current');
  const li = document.createElement('li');
  li.className = 'current';
  li.textContent = text;
  provSteps.append(li);
  while (provSteps.childElementCount > 6) provSteps.firstElementChild.remove();
  provCount++;
  provProgress.value = Math.min(95, 5 + (90 * provCount) / expectedSteps);
}

export function provisioningDone() {
  provProgress.value = 100;
}
