// The events page: the instructor's events (an admin's: everyone's), and
// the form that makes one, then opens it.
import { api, busy } from './api.js';
import { eventFields } from './event/fields.js';
import { el, formatWindow, statusLabel } from './event/format.js';

const table = document.getElementById('events-table');
const empty = document.getElementById('events-empty');
const loading = document.getElementById('events-loading');
const admin = 'admin' in table.dataset;

async function load() {
  try {
    const { events } = await api('GET', '/api/v1/events');
    render(events || []);
  } catch (e) {
    loading.textContent = `Could not load the events: ${e.message}`;
    loading.classList.add('form-error');
    return;
  }
  loading.hidden = true;
}

function render(events) {
  table.tBodies[0].replaceChildren(...events.map(row));
  table.hidden = events.length === 0;
  empty.hidden = events.length > 0;
}

function row(ev) {
  const tr = el('tr');
  tr.dataset.event = ev.id;
  const th = el('th');
  th.scope = 'row';
  const a = el('a', '', ev.title);
  a.href = `/events/${encodeURIComponent(ev.id)}`;
  th.append(a);
  const status = el('span', 'tag event-status', statusLabel(ev.status));
  status.dataset.status = ev.status;
  const statusCell = el('td');
  statusCell.append(status);
  const code = el('td');
  code.append(el('code', '', ev.join_code || ''));
  tr.append(th, statusCell, el('td', '', formatWindow(ev)), el('td', 'num', `${ev.joined}/${ev.seats}`), code);
  if (admin) tr.append(el('td', '', ev.owner?.name || ''));
  return tr;
}

const form = document.getElementById('event-form');
const fields = eventFields(form);
const error = form.querySelector('.form-error');
form.addEventListener('submit', (e) => {
  e.preventDefault();
  error.hidden = true;
  busy(form.querySelector('button[type="submit"]'), async () => {
    try {
      const ev = await api('POST', '/api/v1/events', fields.read());
      location.assign(`/events/${encodeURIComponent(ev.id)}`);
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  });
});

load();
