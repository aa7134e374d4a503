"""D1: the runs list and a finished run's page, as Chromium renders them.

  python finished.py URL RUN_ID EVENTS STAGE ATTEMPT_ID

URL is `baton serve`'s base URL; EVENTS the run's event count in the database (the page's #event-count must reach
it); STAGE and ATTEMPT_ID an attempt to open by permalink (`?stage=&attempt=`). Prints the runs table, the run page's
graph, timeline, memory lane and attempt panel, the 404 page of an unknown run, and the page errors.
"""

import sys

from common import Page, browser, emit, fail

url, run_id, events, stage, attempt = sys.argv[1].rstrip("/") + "/", sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
result = {}
with browser() as launched:
    tab = Page(launched)
    page = tab.page

    # The runs list: newest first, one row per run, the cells the contract names.
    response = page.goto(url)
    result["runs_status"] = response.status if response else None
    tab.wait("() => document.querySelectorAll('#runs tr.run-row').length > 0", what="a row in table#runs")
    result["runs_page"] = page.evaluate("() => document.body.getAttribute('data-page')")
    result["actions"] = page.evaluate("() => document.body.getAttribute('data-actions')")
    result["nav"] = page.evaluate("() => [...document.querySelectorAll('header a, nav a')].map(a => a.getAttribute('href'))")
    result["rows"] = page.evaluate("""() => [...document.querySelectorAll('#runs tr.run-row')].map(tr => {
        const cell = c => { const td = tr.querySelector('td.' + c); return td ? td.textContent.trim() : null; };
        const link = tr.querySelector('a[href]');
        return {id: tr.getAttribute('data-run-id'), status: tr.getAttribute('data-status'), link: link && link.getAttribute('href'),
                pipeline: cell('pipeline'), status_text: cell('status'), profile: cell('profile'), started: cell('started'),
                duration: cell('duration'), tokens: cell('tokens'), stage: cell('stage')};
    })""")
    result["runs_hook"] = tab.hook()

    # The filters narrow the rows in place.
    result["rows_filtered_failed"] = None
    if page.query_selector("select#filter-status"):
        try:
            page.select_option("select#filter-status", "failed")
            page.wait_for_timeout(800)
            result["rows_filtered_failed"] = page.evaluate(
                "() => [...document.querySelectorAll('#runs tr.run-row')].filter(tr => tr.offsetParent !== null).length")
        except Exception as error:  # noqa: BLE001 - reported, the test judges
            result["rows_filtered_failed"] = f"cannot filter: {error}"

    # The run page, reached by the row's link.
    page.goto(url)
    tab.wait("() => document.querySelectorAll('#runs tr.run-row').length > 0", what="a row in table#runs again")
    link = page.query_selector(f'#runs tr.run-row[data-run-id="{run_id}"] a[href]')
    if not link:
        fail(f"no link in the row of run {run_id}")
    link.click()
    page.wait_for_load_state("load")
    tab.wait("n => { const el = document.querySelector('#event-count'); return el && parseInt(el.textContent, 10) >= n; }",
             arg=events, timeout=30, what=f"#event-count reaching {events}")
    page.wait_for_timeout(300)
    result["run_url"] = page.url
    result["run_page"] = page.evaluate("() => [document.body.getAttribute('data-page'), document.body.getAttribute('data-run-id')]")
    result["run_status"] = page.evaluate("() => { const el = document.querySelector('#run-status'); return el && el.getAttribute('data-status'); }")
    result["stages"] = tab.stages()
    result["counts"] = tab.counts()
    result["bars"] = page.evaluate("""() => [...document.querySelectorAll('#timeline .attempt-bar')].map(b => ({
        attempt: b.getAttribute('data-attempt-id'), stage: b.getAttribute('data-stage'),
        load: b.querySelectorAll('.seg-load').length, prompt: b.querySelectorAll('.seg-prompt').length,
        generate: b.querySelectorAll('.seg-generate').length}))""")
    result["memory"] = page.evaluate("""() => ({
        lane: !!document.querySelector('#memory-lane'), budget: document.querySelectorAll('#memory-lane .mem-budget').length,
        blocks: [...document.querySelectorAll('#memory-lane .mem-block')].map(b => b.getAttribute('data-model')),
        events: [...document.querySelectorAll('#memory-lane .mem-event')].map(e => ({kind: e.getAttribute('data-kind'),
            title: (e.getAttribute('title') || (e.querySelector('title') || {}).textContent || '')}))})""")

    # Clicking a stage opens its panel and puts it in the URL.
    node = page.query_selector(f'#graph g.stage[data-stage="{stage}"]')
    if not node:
        fail(f"no g.stage[data-stage={stage}] in #graph")
    node.click()
    tab.wait("() => { const el = document.querySelector('#attempt-output'); return el && el.textContent.length > 0; }",
             what="the attempt panel's output after a click on a stage")
    page.wait_for_timeout(300)
    result["clicked_url"] = page.url
    result["clicked_output"] = tab.text("#attempt-output")
    result["clicked_meta"] = tab.text("#attempt-meta")

    # The permalink opens that attempt.
    page.goto(f"{url}runs/{run_id}?stage={stage}&attempt={attempt}")
    tab.wait("() => { const el = document.querySelector('#attempt-output'); return el && el.textContent.length > 0; }",
             what="the attempt panel's output from a permalink")
    page.wait_for_timeout(300)
    result["permalink_output"] = tab.text("#attempt-output")
    result["permalink_prompt"] = tab.text("#attempt-prompt")
    result["permalink_meta"] = tab.text("#attempt-meta")
    result["run_hook"] = tab.hook()
    # Before the 404 below, whose own load Chromium logs as a console error.
    result["errors"] = list(tab.errors)

    # An unknown run: a 404 page naming the id and linking home.
    response = page.goto(f"{url}runs/no-such-run-42")
    result["missing_status"] = response.status if response else None
    result["missing_text"] = page.evaluate("() => document.body ? document.body.textContent : ''")
    result["missing_home_link"] = page.evaluate("() => !!document.querySelector('a[href=\"/\"]')")
emit(result)
