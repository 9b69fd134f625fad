// The admin's user list: find users by name or email, make an account an
// instructor or a learner again. Admins and guests keep their role here.
import { api, busy, toast } from './api.js';
import { el } from './event/format.js';

const form = document.getElementById('user-search');
const error = form.querySelector('.form-error');
const table = document.getElementById('users-table');
const empty = document.getElementById('users-empty');
const roles = { admin: 'Admin', instructor: 'Instructor', learner: 'Learner' };

async function search() {
  error.hidden = true;
  const q = form.elements.namedItem('q').value.trim();
  try {
    const { users } = await api('GET', `/api/v1/users?q=${encodeURIComponent(q)}`);
    table.tBodies[0].replaceChildren(...users.map(row));
    table.hidden = users.length === 0;
    empty.hidden = users.length > 0;
  } catch (e) {
    error.textContent = e.message;
    error.hidden = false;
  }
}

function row(u) {
  const tr = el('tr');
  tr.dataset.user = u.id;
  const th = el('th', '', u.name);
  th.scope = 'row';
  const role = el('td');
  const tag = el('span', `tag${u.role === 'learner' ? '' : ' accent'}`, roles[u.role] || u.role);
  tag.dataset.role = u.role;
  role.append(tag);
  const act = el('td', 'num');
  if (u.role !== 'admin' && u.email) {
    const to = u.role === 'instructor' ? 'learner' : 'instructor';
    const b = el('button', 'btn small', to === 'instructor' ? 'Make instructor' : 'Make learner');
    b.type = 'button';
    b.dataset.setRole = to;
    b.addEventListener('click', () => busy(b, async () => {
      try {
        const changed = await api('PATCH', `/api/v1/users/${encodeURIComponent(u.id)}`, { role: to });
        tr.replaceWith(row(changed));
        toast(`${changed.name} is now ${changed.role === 'instructor' ? 'an instructor' : 'a learner'}.`);
      } catch (e) {
        toast(e.message, { error: true });
      }
    }));
    act.append(b);
  }
  tr.append(th, el('td', '', u.email || '(guest)'), role, act);
  return tr;
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  busy(form.querySelector('button[type="submit"]'), search);
});
search();
