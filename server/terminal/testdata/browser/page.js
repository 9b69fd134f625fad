// Drives frontend/static/terminal.js for browser_test.go.
import { attachTerminal } from '/static/v/static/terminal.js';

const params = new URLSearchParams(location.search);
window.statuses = [];
window.kt = attachTerminal(document.getElementById('t'), {
  url: `ws://${location.host}/term?key=${params.get('key')}`,
  onStatus: (state, detail) => window.statuses.push(detail ? `${state}:${detail}` : state),
});
window.screenText = () => {
  const b = window.kt.term.buffer.active;
  const lines = [];
  for (let i = 0; i < b.length; i++) lines.push(b.getLine(i).translateToString(true));
  return lines.join('\n');
};
