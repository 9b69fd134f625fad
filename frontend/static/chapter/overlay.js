// The overlay over the terminal shows one card at a time (start,
// provisioning, queued, failed, ended, error, connecting) or none.
import { $ } from './page.js';

const overlay = $('#overlay');
const errorMessage = $('#error-message');

export function setOverlay(name) {
  overlay.dataset.state = name;
}

export function overlayState() {
  return overlay.dataset.state;
}

export function showError(message) {
  errorMessage.textContent = message;
  setOverlay('error');
}
