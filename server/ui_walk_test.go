package server

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

var readmeScreenshot = flag.String("readme-screenshot", "", "write the README's screenshot (the pods chapter at desktop width, tasks green) to this file")

// pageProblems collects what a learner's browser reports as wrong: console
// errors, uncaught exceptions, log entries at level error (failed loads
// among them) and Content-Security-Policy violations, on every page the
// tab shows from now on.
type pageProblems struct {
	mu   sync.Mutex
	list []string
}

func (p *pageProblems) add(format string, args ...any) {
	p.mu.Lock()
	p.list = append(p.list, fmt.Sprintf(format, args...))
	p.mu.Unlock()
}

// cspViolationsJS collects CSP violations in the page itself (the browser
// reports them to the page; scripts added through the DevTools protocol
// are not subject to the CSP).
const cspViolationsJS = `window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + (e.sourceFile || '') + ':' + e.lineNumber));`

func watchProblems(t *testing.T, ctx context.Context) *pageProblems {
	t.Helper()
	p := &pageProblems{}
	do(t, ctx, "watch the page's problems", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, cdplog.Enable, cdp.Empty{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspViolationsJS})
		return err
	}))
	go func() {
		for ev, err := range chromedp.Events(ctx, runtime.ExceptionThrown) {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			p.add("exception: %s (%s:%d)", msg, d.URL, d.LineNumber)
		}
	}()
	go func() {
		for ev, err := range chromedp.Events(ctx, runtime.ConsoleAPICalled) {
			if err != nil {
				return
			}
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				var args []string
				for _, a := range ev.Args {
					args = append(args, strings.Trim(string(a.Value), `"`)+a.Description)
				}
				p.add("console.%s: %s", ev.Type, strings.Join(args, " "))
			}
		}
	}()
	go func() {
		for ev, err := range chromedp.Events(ctx, cdplog.EntryAdded) {
			if err != nil {
				return
			}
			if e := ev.Entry; e.Level == cdplog.EntryLevelError {
				p.add("log %s: %s %s", e.Source, e.Text, e.URL)
			}
		}
	}()
	return p
}

// pressKey presses and releases a key as a keyboard does, without the
// separate character event chromedp's KeyEvent adds (which an editor
// would take as a second key).
func pressKey(key string, code int64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			if _, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, input.DispatchKeyEventParams{
				Type: typ, Key: key, Code: key, WindowsVirtualKeyCode: code, NativeVirtualKeyCode: code,
			}); err != nil {
				return err
			}
		}
		return nil
	})
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// emulate sizes the tab's viewport, as a phone when phone.
func emulate(width, height int64, phone bool) chromedp.Action[chromedp.Void] {
	if phone {
		return chromedp.EmulateViewport(width, height, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	return chromedp.EmulateViewport(width, height)
}

// check fails the test with every problem seen so far, and the CSP
// violations of the page shown now.
func (p *pageProblems) check(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	csp := eval[[]string](t, ctx, `window.__csp || ['the CSP watcher did not run']`)
	p.mu.Lock()
	defer p.mu.Unlock()
	all := append(append([]string(nil), p.list...), csp...)
	if len(all) > 0 {
		t.Errorf("%s: the browser reported %d problems, want none:\n%s", where, len(all), strings.Join(all, "\n"))
	}
}

// TestUIPodsChapterWalk walks the pods chapter as a learner would, at a
// desktop's width and a phone's: a lesson block saved to a file, opened in
// the editor, applied in the terminal, changed in the editor and applied
// again; a solution revealed; and the browser reports no error, exception
// or CSP violation on the way.
func TestUIPodsChapterWalk(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		width, height int64
		phone         bool
	}{
		{"desktop", 1400, 900, false},
		{"phone", 390, 844, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestStack(t)
			base := ts.client(t).base
			u := newUser(t, newBrowser(t))
			do(t, u, "size the window", emulate(tc.width, tc.height, tc.phone))
			problems := watchProblems(t, u)
			signupInBrowser(t, u, base, tc.name+"@example.com", "Walker")
			do(t, u, "open chapter pods", chromedp.Navigate(base+"/chapters/pods"))
			waitFor(t, u, "the start button", startReadyJS, 10*time.Second)
			showLab := func() {
				if tc.phone {
					click(t, u, "the Lab tab", "#view-console")
				}
			}
			showLesson := func() {
				if tc.phone {
					click(t, u, "the Lesson tab", "#view-lesson")
				}
			}
			if tc.phone {
				// One pane at a time, the whole height: the lesson first.
				waitFor(t, u, "the lesson alone", `getComputedStyle(document.querySelector('#console')).display === 'none' &&
					document.querySelector('#lesson').getBoundingClientRect().height > innerHeight * 0.7`, 5*time.Second)
				showLab()
			}
			startToPrompt(t, u)
			showLesson()
			// No code block's buttons cover its code; no glyph the fonts lack.
			if bad := eval[[]string](t, u, `[...document.querySelectorAll('.step:not([hidden]) .codeblock, #step-02-pods-from-yaml .codeblock')].filter(b => {
				const bar = b.querySelector('.code-actions').getBoundingClientRect();
				const code = b.querySelector('code');
				const line = document.createRange();
				line.setStart(code, 0);
				line.setEnd(code, Math.min(1, code.childNodes.length));
				const first = line.getBoundingClientRect();
				const wide = code.textContent.split('\n')[0].length * 8 > bar.left - first.left;
				return b.offsetParent && getComputedStyle(b.querySelector('.code-actions')).position === 'absolute' && wide;
			}).map(b => b.querySelector('code').textContent.split('\n')[0])`); len(bad) > 0 {
				t.Errorf("buttons cover the first line of %q", bad)
			}
			if got := eval[string](t, u, `(() => { const el = document.querySelector('.admonition.real-cluster .admonition-title'); return el ? getComputedStyle(el, '::before').content : 'none'; })()`); got != "none" {
				t.Errorf("the real-cluster box's title starts with %s", got)
			}

			// Step 2: save the manifest from the lesson; it opens in the editor.
			click(t, u, "step 2", "#tab-02-pods-from-yaml")
			save := `#step-02-pods-from-yaml .codeblock[data-file="my-app-pod.yaml"] button.save`
			eval[bool](t, u, `(document.querySelector('`+save+`').scrollIntoView({block: 'center'}), true)`)
			if got := eval[string](t, u, `document.querySelector('`+save+`').textContent`); got != "Save to ~/my-app-pod.yaml" {
				t.Errorf("the block's save button says %q", got)
			}
			click(t, u, "Save to ~/my-app-pod.yaml", save)
			waitFor(t, u, "the file open in the editor", `!document.querySelector('#editor').hidden &&
				document.querySelector('#editor-path').textContent === '~/my-app-pod.yaml' &&
				document.querySelector('.cm-content')?.textContent.includes('name: my-app-pod') &&
				document.querySelector('#editor-state').textContent === 'Saved' &&
				[...document.querySelectorAll('.editor-file')].some(b => b.dataset.path === 'my-app-pod.yaml')`, 20*time.Second)
			if tc.phone {
				waitFor(t, u, "the lab shown on the phone", `document.querySelector('.workspace').dataset.view === 'console'`, 5*time.Second)
			}
			screenshot(t, u, tc.name+"-editor")

			// Apply it from the terminal: the Run button shows the terminal.
			showLesson()
			apply := `#step-02-pods-from-yaml button[data-run]`
			click(t, u, "Run kubectl apply -f my-app-pod.yaml", apply)
			waitFor(t, u, "the terminal shown", `document.querySelector('#console').dataset.pane === 'terminal'`, 5*time.Second)
			waitFor(t, u, "the Pod created", `(`+terminalTextJS+`).includes('pod/my-app-pod created')`, 20*time.Second)
			waitFor(t, u, "task declarative-pod green", `document.querySelector('#task-declarative-pod').dataset.status === 'passed'`, 30*time.Second)

			// Change the file in the editor: a label under the others, saved
			// with Ctrl+S; Enter keeps the indentation.
			showLab()
			click(t, u, "the Editor tab", "#tab-editor")
			waitFor(t, u, "the editor", `!document.querySelector('#editor').hidden && !!document.querySelector('.cm-content')`, 10*time.Second)
			line := eval[int](t, u, `[...document.querySelectorAll('.cm-line')].findIndex(l => l.textContent.includes('type: front-end'))`)
			if line < 0 {
				t.Fatal("the editor does not show the line type: front-end")
			}
			do(t, u, "type a label in the editor",
				chromedp.Click(chromedp.CSS(fmt.Sprintf(".cm-line:nth-child(%d)", line+1))),
				pressKey("End", 35), pressKey("Enter", 13), insertText("env: dev"))
			waitFor(t, u, "unsaved changes shown", `document.querySelector('#editor-state').textContent === 'Unsaved changes' &&
				!document.querySelector('#editor-save').disabled`, 5*time.Second)
			do(t, u, "Ctrl+S", chromedp.KeyEvent("s", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
			waitFor(t, u, "saved", `document.querySelector('#editor-state').textContent === 'Saved' && document.querySelector('#editor-save').disabled`, 10*time.Second)
			saved := eval[string](t, u, `fetch('/api/v1/sessions/' + (`+sessionIDJS+`) + '/files/my-app-pod.yaml').then(r => r.text())`)
			if !strings.Contains(saved, "    type: front-end\n    env: dev\n") {
				t.Errorf("the saved file, indented as the lines above:\n%s", saved)
			}

			showLesson()
			click(t, u, "Run kubectl apply -f my-app-pod.yaml again", apply)
			waitFor(t, u, "the Pod changed", `(`+terminalTextJS+`).includes('pod/my-app-pod configured')`, 20*time.Second)
			do(t, u, "ask for the label", chromedp.Click(chromedp.CSS("#terminal")),
				insertText("kubectl get pod my-app-pod -o jsonpath='{.metadata.labels.env}{\"-seen\"}'"), chromedp.KeyEvent("\r"))
			waitFor(t, u, "the label from the editor", `(`+terminalTextJS+`).includes('dev-seen')`, 20*time.Second)
			if *readmeScreenshot != "" && !tc.phone {
				eval[bool](t, u, `(document.querySelector('#step-02-pods-from-yaml .tasks').scrollIntoView({block: 'start'}), true)`)
				waitFor(t, u, "no toast", `document.querySelector('#toast').hidden`, 10*time.Second)
				time.Sleep(500 * time.Millisecond) // the scroll settles
				if err := os.WriteFile(*readmeScreenshot, readFile(t, screenshot(t, u, "readme")), 0o644); err != nil {
					t.Fatal(err)
				}
			}

			// A solution, revealed after the question.
			showLesson()
			sol := `#task-ports-and-requests [data-solution]`
			eval[bool](t, u, `(document.querySelector('`+sol+`').scrollIntoView({block: 'center'}), true)`)
			// The dock leaves once the task list shows: then nothing moves the button.
			waitFor(t, u, "the dock gone", `document.querySelector('#task-dock').hidden`, 10*time.Second)
			click(t, u, "Show solution", sol)
			waitFor(t, u, "the question", `document.querySelector('#confirm-solution').open`, 10*time.Second)
			click(t, u, "Show the solution", `#confirm-solution button[value="confirm"]`)
			waitFor(t, u, "the solution with Run", `!!document.querySelector('#task-ports-and-requests .codeblock.solution button.run')`, 10*time.Second)
			screenshot(t, u, tc.name+"-solution")
			problems.check(t, u, "the pods chapter at "+tc.name+" width")
		})
	}
}
