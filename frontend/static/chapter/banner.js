// The workshop's banner at the top of the lesson: a message the instructor
// sent to the whole event, or a hint sent to the learners failing a task
// (styled as a warning). The learner dismisses it; a banner dismissed once
// stays dismissed when the stream sends it again on reconnect.
import { $, userID } from './page.js';

const banner = $('#workshop-banner');
const label = $('.from', banner);
const text = $('.text', banner);
const dismissedKey = `kubelab.banner.${userID}`;

// A banner is known by its text: its time differs between the broadcast
// and the copy sent on connect.
function keyOf(d) {
  return d.message;
}

function dismissed(d) {
  try { return localStorage.getItem(dismissedKey) === keyOf(d); } catch { return false; }
}

$('[data-dismiss-banner]', banner).addEventListener('click', () => {
  banner.hidden = true;
  try { localStorage.setItem(dismissedKey, banner.dataset.key || ''); } catch { /* private mode */ }
});

/** Shows a "banner" event: {message, from, at, hint}. An empty message takes the banner down. */
export function showBanner(d) {
  if (!d || !d.message) {
    banner.hidden = true;
    return;
  }
  if (dismissed(d)) return;
  const hint = !!d.hint;
  banner.classList.toggle('warn', hint);
  banner.classList.toggle('info', !hint);
  banner.dataset.kind = hint ? 'hint' : 'banner';
  banner.dataset.key = keyOf(d);
  label.textContent = hint ? `Hint from ${d.from || 'your instructor'}:` : `${d.from || 'Your instructor'}:`;
  text.textContent = d.message;
  banner.hidden = false;
}
