// The review page: retry one task alone, in a fresh sandbox.
import { api, busy, toast } from './api.js';

for (const b of document.querySelectorAll('[data-retry]')) {
  b.addEventListener('click', () => busy(b, async () => {
    try {
      const a = await api('POST', `/api/v1/attempts/${encodeURIComponent(b.dataset.attempt)}/tasks/${encodeURIComponent(b.dataset.retry)}/retry`, {});
      location.assign(`/exams/attempts/${encodeURIComponent(a.id)}`);
    } catch (e) {
      toast(`Could not start the retry: ${e.message}`, { error: true });
    }
  }));
}
