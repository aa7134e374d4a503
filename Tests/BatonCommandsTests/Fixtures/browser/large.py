"""D6: a 10,000-token, ~5 MB output streaming into an open run page, then the page used.

  python large.py URL BIG_STAGE OTHER_STAGE FULL_LENGTH [TIMEOUT_SECONDS]

Opens the runs list and prints {"step": "ready"}; the test starts the run and writes its id on stdin. The driver
opens the run page, opens BIG_STAGE's panel as soon as it runs, and samples the panel's output length while the
run goes on (with the longest gap between animation frames and the slowest round trip into the page). When the run
has finished it measures, with performance.now() in the page: a scripted scroll through the output, a click on
OTHER_STAGE until its output shows, a click back, and "show all" until the whole FULL_LENGTH (UTF-16 units) shows,
then a scroll through that. It prints the figures and the output's tail; it asserts nothing about time.
"""

import re
import sys
import time

from common import TERMINAL, Page, browser, emit, fail, step, wait_line

url, big, other, full = sys.argv[1].rstrip("/") + "/", sys.argv[2], sys.argv[3], int(sys.argv[4])
timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 240

SCROLL = """async () => {
    const pre = document.querySelector('#attempt-output');
    let box = pre;
    while (box && box !== document.body && !(box.scrollHeight > box.clientHeight + 1 &&
           ['auto', 'scroll'].includes(getComputedStyle(box).overflowY))) box = box.parentElement;
    if (!box || box === document.body) box = document.scrollingElement;
    const frame = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    const t0 = performance.now();
    const steps = 20;
    for (let i = 1; i <= steps; i++) { box.scrollTop = (box.scrollHeight - box.clientHeight) * i / steps; await frame(); }
    box.scrollTop = 0; await frame();
    return {ms: performance.now() - t0, height: box.scrollHeight, element: box.id || box.tagName};
}"""

CLICK_UNTIL = """async ([stage, predicate]) => {
    const check = new Function('text', 'return ' + predicate);
    const t0 = performance.now();
    const node = document.querySelector(`#graph g.stage[data-stage="${stage}"]`);
    node.dispatchEvent(new MouseEvent('click', {bubbles: true}));
    while (true) {
        const el = document.querySelector('#attempt-output');
        if (el && check(el.textContent)) return performance.now() - t0;
        if (performance.now() - t0 > 60000) return -1;
        await new Promise(r => requestAnimationFrame(r));
    }
}"""

SHOW_ALL = """async (full) => {
    const button = [...document.querySelectorAll('#attempt-panel button')].find(b => /show all/i.test(b.textContent));
    if (!button) return {found: false};
    const t0 = performance.now();
    button.click();
    while (true) {
        const el = document.querySelector('#attempt-output');
        if (el && el.textContent.length >= full) return {found: true, ms: performance.now() - t0, length: el.textContent.length};
        if (performance.now() - t0 > 60000) return {found: true, ms: -1, length: el ? el.textContent.length : null};
        await new Promise(r => requestAnimationFrame(r));
    }
}"""

FRAMES = """() => { const f = window.__frames = {max: 0, last: performance.now(), count: 0};
    const loop = () => { const now = performance.now(); f.max = Math.max(f.max, now - f.last); f.last = now; f.count++;
                         requestAnimationFrame(loop); };
    requestAnimationFrame(loop); }"""

result = {}
with browser() as launched:
    tab = Page(launched)
    page = tab.page
    page.goto(url)
    tab.wait("() => document.querySelector('#runs')", what="the runs list")
    step("ready")
    run_id = wait_line()
    page.goto(f"{url}runs/{run_id}")
    tab.wait("() => document.querySelectorAll('#graph g.stage').length > 0", what="the run page's graph")
    tab.wait(f"""() => {{ const g = document.querySelector('#graph g.stage[data-stage="{big}"]');
                         return g && ['running', 'completed'].includes(g.getAttribute('data-status')); }}""",
             timeout=timeout, what=f"stage {big} running")
    page.click(f'#graph g.stage[data-stage="{big}"]')
    page.evaluate(FRAMES)
    samples, round_trips, progress = [], [], set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = time.perf_counter()
        state = page.evaluate("""() => { const el = document.querySelector('#attempt-output');
            const s = document.querySelector('#run-status');
            return {length: el ? el.textContent.length : null, tail: el ? el.textContent.slice(-1200) : '',
                    status: s && s.getAttribute('data-status')}; }""")
        round_trips.append((time.perf_counter() - before) * 1000)
        samples.append(state["length"])
        # The stand-in's tokens start with their index: the last one shown is how far the page has streamed.
        indices = re.findall(r"(\d{5}) x", state["tail"])
        if indices and state["status"] not in TERMINAL:
            progress.add(int(indices[-1]))
        if state["status"] in TERMINAL:
            break
        time.sleep(0.25)
    else:
        fail(f"the run did not finish within {timeout} s")
    result["run_status"] = state["status"]
    tab.wait("() => window.__baton.ends > 0", timeout=30, what="the end of the event stream")
    page.wait_for_timeout(500)
    result["samples"] = len(samples)
    result["streamed_lengths"] = sorted({s for s in samples if s})
    result["streamed_progress"] = sorted(progress)
    result["max_round_trip_ms"] = round(max(round_trips), 1)
    result["max_frame_gap_ms"] = round(page.evaluate("() => window.__frames.max"), 1)
    result["frames"] = page.evaluate("() => window.__frames.count")
    result["counts"] = tab.counts()
    result["shown_length"] = page.evaluate("() => document.querySelector('#attempt-output').textContent.length")
    result["shown_tail"] = page.evaluate("() => document.querySelector('#attempt-output').textContent.slice(-200)")

    result["scroll"] = page.evaluate(SCROLL)
    result["click_other_ms"] = page.evaluate(CLICK_UNTIL, [other, "text.length > 0 && text.length < 100000"])
    result["click_back_ms"] = page.evaluate(CLICK_UNTIL, [big, "text.length >= 100000"])
    result["show_all"] = page.evaluate(SHOW_ALL, full)
    result["scroll_all"] = page.evaluate(SCROLL)
    result["full_tail"] = page.evaluate("() => document.querySelector('#attempt-output').textContent.slice(-200)")
    before = time.perf_counter()
    page.evaluate("() => 1")
    result["after_round_trip_ms"] = round((time.perf_counter() - before) * 1000, 1)
    result["hook_sources"] = tab.hook()["sources"]
    result["csp"] = tab.hook()["csp"]
    result["errors"] = tab.errors
emit(result)
