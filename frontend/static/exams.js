// The exams page: Start an attempt, then go to it.
import { api, busy } from './api.js';

for (const b of document.querySelectorAll('[data-start-exam]')) {
  b.addEventListener('click', () => busy(b, async () => {
    const err = b.parentElement.querySelector('.form-error');
    err.hidden = true;
    try {
      const a = await api('POST', `/api/v1/exams/${encodeURIComponent(b.dataset.startExam)}/attempts`, {});
      location.assign(`/exams/attempts/${encodeURIComponent(a.id)}`);
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
    }
  }));
}
