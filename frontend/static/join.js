// The join page: a code (and, from a visitor who is not signed in, a
// display name: the page makes them a guest first), then the event's
// first chapter. Each refusal says what it means.
import { api, busy } from './api.js';

const form = document.getElementById('join-form');
const error = form.querySelector('.form-error');
const guestFields = document.getElementById('guest-fields');
let signedIn = 'signedIn' in form.dataset;

// The sentences for the API's refusals of a code.
const refusals = {
  404: 'No event has this code. Check it (letters and digits, as ABCD-EFGH) and try again.',
  409: 'This event is full: every seat is taken. Ask the instructor for a seat code.',
  410: 'This event has ended. Ask the instructor whether another one is open.',
  429: 'Too many wrong codes were tried from here. Wait a minute, then try again.',
};

function show(message) {
  error.textContent = message;
  error.hidden = !message;
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  show('');
  busy(form.querySelector('button[type="submit"]'), async () => {
    const code = form.elements.namedItem('code').value.trim();
    if (!code) {
      show('Enter the code your instructor shows.');
      return;
    }
    try {
      if (!signedIn) {
        const name = form.elements.namedItem('name').value.trim();
        if (!name) {
          show('Enter your name: your instructor sees it beside your progress.');
          return;
        }
        const me = await api('POST', '/api/v1/auth/guest', { name });
        // Signed in from now on: a second try must not make a second guest.
        signedIn = true;
        const note = document.createElement('p');
        note.className = 'muted small';
        note.textContent = `You join as ${me.name} (a guest).`;
        guestFields.replaceWith(note);
      }
    } catch (err) {
      show(err.message); // the guest could not be made: the server's sentence says why
      return;
    }
    try {
      const joined = await api('POST', '/api/v1/join', { code });
      location.assign(`/chapters/${encodeURIComponent(joined.chapter)}`);
    } catch (err) {
      show(refusals[err.status] || err.message);
    }
  });
});
