"""A token-protected `baton serve` in the browser.

  python auth.py URL TOKEN

Prints what a browser gets: the page without the token (status, text), the page opened with `?token=` (where it
lands, whether the runs table fills, the cookie it set), the API without the token and with a wrong one.
"""

import sys

from common import Page, browser, emit

url, token = sys.argv[1].rstrip("/") + "/", sys.argv[2]
result = {}
with browser() as launched:
    bare = Page(launched)
    response = bare.page.goto(url)
    result["without"] = {"status": response.status if response else None,
                         "text": bare.page.evaluate("() => document.body ? document.body.textContent : ''"),
                         "content_type": response.headers.get("content-type") if response else None}
    response = bare.page.goto(f"{url}api/runs")
    result["api_without"] = {"status": response.status if response else None, "text": response.text() if response else None}
    response = bare.page.goto(f"{url}?token=wrong-token-0123456789")
    result["wrong"] = {"status": response.status if response else None, "url": bare.page.url}
    bare.context.close()

    tab = Page(launched)
    response = tab.page.goto(f"{url}?token={token}")
    chain = []
    request = response.request if response else None
    while request is not None and request.redirected_from is not None:
        request = request.redirected_from
        redirect = request.response()
        chain.append(redirect.status if redirect else None)
    result["with"] = {"status": response.status if response else None, "url": tab.page.url, "redirects": chain}
    tab.wait("() => document.querySelectorAll('#runs tr.run-row').length > 0", what="rows in the runs list with the token")
    result["with"]["rows"] = tab.page.evaluate("() => document.querySelectorAll('#runs tr.run-row').length")
    result["cookies"] = [{"name": c["name"], "httpOnly": c["httpOnly"], "sameSite": c["sameSite"], "path": c["path"],
                          "matches": c["value"] == token} for c in tab.context.cookies()]
    result["script_sees_cookie"] = tab.page.evaluate("() => document.cookie.includes('baton_token')")
    result["errors"] = tab.errors
emit(result)
