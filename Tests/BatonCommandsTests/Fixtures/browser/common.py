"""What every browser driver of DashboardBrowserTests shares: launching Debian's Chromium through Playwright, the
page hooks, and the way results go back to the Swift test.

A driver prints one JSON object per line on stdout. Lines with "step" tell the test where the driver is (so it can
start a run or kill `baton serve` at the right moment); the last line is the result the test asserts on. A driver
that cannot do its job exits non-zero with a message on stderr (`fail`). Nothing here asserts what the test asserts:
drivers collect, the Swift test judges.
"""

import json
import os
import sys
import time
from contextlib import contextmanager

from playwright.sync_api import sync_playwright

# Installed before any page script runs (Playwright's init scripts go in through the DevTools protocol, so the page's
# Content-Security-Policy does not block them). It records:
# - every event id an EventSource of the page received (`ids`), how many EventSources the page made, how often they
#   opened a connection and lost one (`opens`, `drops`: a reconnect is one more of each), and `end`s: a server that
#   sent an event twice on one stream, or again after a reconnect, shows up as a repeated id;
# - Content-Security-Policy violations (a page that breaks its own policy is broken in a real browser);
# - every value each `g.stage` of the run page's graph took for `data-status`, in order (`transitions`).
INIT_SCRIPT = r"""
(() => {
  const hook = window.__baton = {ids: [], sources: 0, urls: [], opens: 0, drops: 0, ends: 0, csp: [], transitions: []};
  document.addEventListener('securitypolicyviolation', e => {
    hook.csp.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile || ''}:${e.lineNumber}`);
  });
  const Original = window.EventSource;
  if (Original) {
    window.EventSource = class extends Original {
      constructor(url, options) {
        super(url, options);
        hook.sources += 1;
        hook.urls.push(String(url));
        this.addEventListener('message', e => hook.ids.push(e.lastEventId));
        this.addEventListener('end', () => { hook.ends += 1; });
        this.addEventListener('open', () => { hook.opens += 1; });
        this.addEventListener('error', () => { hook.drops += 1; });
      }
    };
  }
  const record = el => {
    const stage = el.getAttribute('data-stage');
    const status = el.getAttribute('data-status');
    const seen = hook.transitions.filter(t => t.stage === stage);
    if (seen.length && seen[seen.length - 1].status === status) return;
    hook.transitions.push({stage, status, t: Math.round(performance.now()), events: hook.ids.length});
  };
  const watch = () => {
    document.querySelectorAll('g.stage[data-stage]').forEach(record);
    new MutationObserver(mutations => {
      for (const m of mutations) {
        if (m.type === 'attributes' && m.target.matches && m.target.matches('g.stage[data-stage]')) record(m.target);
        for (const node of m.addedNodes || []) {
          if (node.querySelectorAll) node.querySelectorAll('g.stage[data-stage]').forEach(record);
          if (node.matches && node.matches('g.stage[data-stage]')) record(node);
        }
      }
    }).observe(document.documentElement, {subtree: true, childList: true, attributes: true, attributeFilter: ['data-status']});
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', watch); else watch();
})();
"""

TERMINAL = ("completed", "failed", "interrupted")


def step(name, **fields):
    """Tells the test where the driver is (one JSON line with "step")."""
    print(json.dumps({"step": name, **fields}), flush=True)


def emit(result):
    """The driver's result: the last line on stdout."""
    print(json.dumps(result), flush=True)


def fail(message):
    print(f"browser driver: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def wait_line():
    """The next line the test writes on the driver's stdin (a run id), without its line break."""
    line = sys.stdin.readline()
    if not line:
        fail("the test closed stdin before sending what the driver waits for")
    return line.strip()


@contextmanager
def browser():
    """Debian's Chromium (BATON_CHROMIUM, default /usr/bin/chromium), headless, through Playwright."""
    executable = os.environ.get("BATON_CHROMIUM") or "/usr/bin/chromium"
    if not os.access(executable, os.X_OK):
        fail(f"no Chromium at {executable}; run scripts/setup-browser.sh or set BATON_CHROMIUM")
    with sync_playwright() as playwright:
        # --no-sandbox: root in a container has no user namespaces for Chromium's sandbox; the pages are local.
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


class Page:
    """A page in a fresh context (1280×800, the hooks above) that keeps the page's errors."""

    def __init__(self, launched, **context_options):
        self.context = launched.new_context(viewport={"width": 1280, "height": 800}, **context_options)
        self.context.add_init_script(INIT_SCRIPT)
        self.page = self.context.new_page()
        self.errors = []
        self.page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        self.page.on("console", self._console)

    def _console(self, message):
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def hook(self):
        """What the init script recorded on the current document."""
        return self.page.evaluate("() => window.__baton || null")

    def wait(self, expression, timeout=30, arg=None, what="the page"):
        """Waits until `expression` (a JS function body returning truthy) holds; fails naming `what`."""
        try:
            self.page.wait_for_function(expression, arg=arg, timeout=timeout * 1000, polling=50)
        except Exception as error:  # noqa: BLE001 - the message names what did not happen
            fail(f"{what} did not happen within {timeout} s ({type(error).__name__}); page errors: {self.errors}")

    def stages(self):
        """The run page's graph: name, status and fan-out items of each stage, in document order."""
        return self.page.evaluate(
            """() => [...document.querySelectorAll('#graph g.stage[data-stage]')].map(g => ({
                stage: g.getAttribute('data-stage'), status: g.getAttribute('data-status'),
                items: g.getAttribute('data-items')}))""")

    def text(self, selector):
        return self.page.evaluate("s => { const el = document.querySelector(s); return el ? el.textContent : null; }", selector)

    def counts(self):
        """#event-count and #last-event-id as numbers (null when missing or not a number)."""
        return self.page.evaluate("""() => {
            const n = s => { const el = document.querySelector(s); const v = el ? parseInt(el.textContent.replace(/[^0-9]/g, ''), 10) : NaN;
                             return Number.isNaN(v) ? null : v; };
            return {event_count: n('#event-count'), last_event_id: n('#last-event-id')};
        }""")


def settle(seconds=0.3):
    time.sleep(seconds)
