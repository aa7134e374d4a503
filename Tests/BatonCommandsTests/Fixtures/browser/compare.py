"""D5: the compare page of two runs.

  python compare.py URL A B

Prints each `tr.stage-row` (stage, data-changed, the text of its `.changed` cells, how many <ins>/<del> it holds),
the page's data-a/data-b, the form the page shows without both runs, and the page errors.
"""

import sys

from common import Page, browser, emit

url, a, b = sys.argv[1].rstrip("/") + "/", sys.argv[2], sys.argv[3]
result = {}
with browser() as launched:
    tab = Page(launched)
    page = tab.page
    response = page.goto(f"{url}compare?a={a}&b={b}")
    result["status"] = response.status if response else None
    tab.wait("() => document.querySelectorAll('table#compare tr.stage-row').length > 0", what="rows in table#compare")
    page.wait_for_timeout(300)
    result["body"] = page.evaluate(
        "() => ({page: document.body.getAttribute('data-page'), a: document.body.getAttribute('data-a'), b: document.body.getAttribute('data-b')})")
    result["rows"] = page.evaluate("""() => [...document.querySelectorAll('table#compare tr.stage-row')].map(tr => ({
        stage: tr.getAttribute('data-stage'), changed: tr.getAttribute('data-changed'),
        marked: [...tr.querySelectorAll('.changed')].map(el => el.textContent.trim()),
        ins: tr.querySelectorAll('ins').length, del: tr.querySelectorAll('del').length}))""")
    # Diffs may sit in rows of their own after each stage row: count them over the whole table too.
    result["table_ins"] = page.evaluate("() => document.querySelectorAll('table#compare ins').length")
    result["table_del"] = page.evaluate("() => document.querySelectorAll('table#compare del').length")
    result["hook"] = tab.hook()
    result["errors"] = list(tab.errors)

    # Without both runs: a form listing recent runs.
    page.goto(f"{url}compare")
    page.wait_for_timeout(1500)
    result["form"] = page.evaluate("""() => ({page: document.body.getAttribute('data-page'),
        selects: document.querySelectorAll('select').length,
        options: [...document.querySelectorAll('select option')].map(o => o.value).filter(v => v)})""")
emit(result)
