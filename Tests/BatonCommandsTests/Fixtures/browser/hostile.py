"""Security in the browser: a stage output (and an input) holding markup stays text.

  python hostile.py URL RUN_ID STAGE OTHER_RUN_ID

Opens the run page on STAGE's panel and the compare page of RUN_ID against OTHER_RUN_ID twice: once as served (with
the Content-Security-Policy) and once with Playwright's `bypass_csp`, so a page that put the output into the DOM as
markup would run it even though the policy would have stopped it. Prints, for each, `window.pwned`, whether the
output text holds the literal `<script>`, and how many `img[src=x]` and unexpected `<script>` elements the document
has.
"""

import sys

from common import Page, browser, emit

url, run_id, stage, other = sys.argv[1].rstrip("/") + "/", sys.argv[2], sys.argv[3], sys.argv[4]

PROBE = """() => ({
    pwned: typeof window.pwned === 'undefined' ? null : String(window.pwned),
    images: document.querySelectorAll('img[src="x"]').length,
    scripts: [...document.scripts].map(s => s.getAttribute('src') || ('inline: ' + s.textContent.slice(0, 60))),
    body_has_literal: document.body.textContent.includes('<script>window.pwned=1</script>'),
    csp: window.__baton ? window.__baton.csp : null,
})"""


def visit(launched, bypass):
    tab = Page(launched, bypass_csp=bypass)
    page = tab.page
    seen = {}
    page.goto(f"{url}runs/{run_id}?stage={stage}")
    tab.wait("() => { const el = document.querySelector('#attempt-output'); return el && el.textContent.length > 0; }",
             what="the hostile stage's output in the panel")
    page.wait_for_timeout(500)
    seen["run"] = page.evaluate(PROBE)
    seen["output"] = tab.text("#attempt-output")
    seen["prompt"] = tab.text("#attempt-prompt")
    page.goto(f"{url}compare?a={other}&b={run_id}")
    tab.wait("() => document.querySelectorAll('table#compare tr.stage-row').length > 0", what="the compare table")
    # Open every diff a user could open.
    page.evaluate("() => document.querySelectorAll('table#compare details').forEach(d => { d.open = true; })")
    page.wait_for_timeout(500)
    seen["compare"] = page.evaluate(PROBE)
    page.goto(url)
    tab.wait("() => document.querySelectorAll('#runs tr.run-row').length > 0", what="the runs list")
    page.wait_for_timeout(500)
    seen["runs"] = page.evaluate(PROBE)
    seen["errors"] = tab.errors
    tab.context.close()
    return seen


with browser() as launched:
    emit({"served": visit(launched, False), "bypass_csp": visit(launched, True)})
