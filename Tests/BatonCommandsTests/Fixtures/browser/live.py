"""D2, D3, D4: a run started by another process after the pages are open, followed live.

  python live.py URL [TIMEOUT_SECONDS]

1. Opens the runs list and prints {"step": "ready"}; the test then starts `baton run` in another process and writes
   the new run's id on this driver's stdin.
2. Waits for that run's row to appear in the open runs list (no reload), then opens the run page in a second tab and
   prints {"step": "opened"} (the D3 test kills and restarts `baton serve` after this).
3. Waits until the page shows the run finished and its event stream ended, then prints what it saw: each stage's
   `data-status` values in order (from the page hook), #event-count and #last-event-id, every event id the page's
   EventSources received, how many EventSources it made, the runs list row's final status, and the page errors.
"""

import sys
import time

from common import TERMINAL, Page, browser, emit, fail, step, wait_line

url = sys.argv[1].rstrip("/") + "/"
timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 180
result = {}
with browser() as launched:
    runs = Page(launched)
    runs.page.goto(url)
    runs.wait("() => document.body && document.body.getAttribute('data-page') === 'runs' && document.querySelector('#runs')",
              what="the runs list")
    runs.page.wait_for_timeout(300)
    # A reload would drop this; it must survive to the end.
    runs.page.evaluate("() => { window.__notReloaded = true; }")
    result["initial_rows"] = runs.page.evaluate(
        "() => [...document.querySelectorAll('#runs tr.run-row')].map(tr => tr.getAttribute('data-run-id'))")
    step("ready")

    run_id = wait_line()
    started = time.monotonic()
    row = f'#runs tr.run-row[data-run-id="{run_id}"]'
    try:
        runs.page.wait_for_selector(row, state="attached", timeout=20_000)
        result["row_appeared"] = True
        result["row_appeared_after_s"] = round(time.monotonic() - started, 2)
        result["row_first_status"] = runs.page.get_attribute(row, "data-status")
    except Exception:  # noqa: BLE001 - reported, the test judges
        result["row_appeared"] = False

    run = Page(launched)
    run.page.goto(f"{url}runs/{run_id}")
    run.wait("() => document.querySelectorAll('#graph g.stage').length > 0", what="the run page's graph")
    step("opened")

    run.wait(f"""() => {{ const el = document.querySelector('#run-status');
                         return el && {list(TERMINAL)!r}.includes(el.getAttribute('data-status')); }}""",
             timeout=timeout, what="#run-status showing the run finished")
    result["status_seen_after_s"] = round(time.monotonic() - started, 2)
    try:
        run.page.wait_for_function("() => window.__baton.ends > 0", timeout=20_000, polling=50)
        result["stream_ended"] = True
    except Exception:  # noqa: BLE001 - reported, the test judges
        result["stream_ended"] = False
    # Anything sent after the end (a reconnect that replays) would land in this second.
    run.page.wait_for_timeout(1000)
    result["run_status"] = run.page.get_attribute("#run-status", "data-status")
    result["stages"] = run.stages()
    result["counts"] = run.counts()
    result["hook"] = run.hook()
    result["errors"] = run.errors

    try:
        runs.page.wait_for_function(f"""() => {{ const tr = document.querySelector('{row}');
                                                return tr && {list(TERMINAL)!r}.includes(tr.getAttribute('data-status')); }}""",
                                    timeout=15_000, polling=100)
    except Exception:  # noqa: BLE001 - reported, the test judges
        pass
    result["row_final_status"] = runs.page.get_attribute(row, "data-status") if runs.page.query_selector(row) else None
    result["runs_not_reloaded"] = runs.page.evaluate("() => window.__notReloaded === true")
    result["runs_errors"] = runs.errors
    result["runs_hook"] = runs.hook()
emit(result)
