"""The operator console in a real headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by selenium): log in, watch a session that a real client
opens appear without a reload, find it by username, disconnect it and see the client
get the close. Screenshots go to ``NAKAMA_RT_SCREENSHOTS`` (a directory) when set.

The browser runs outside the reactor; every selenium call is made in a thread so the
server, on the reactor in this process, keeps answering. Without Chromium the tests
skip, except under ``CI``, where they fail (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.threads import deferToThread

from nakama_rt.console.figures import DISCONNECT_REASON
from tests.conftest import make_config, start_server, stop_server
from tests.wsclient import authenticate, connect

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT_S = 10


@pytest.fixture
def browser():
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium (pip install '.[test]')")
    if missing:
        message = f"no headless browser: {', '.join(missing)} missing"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()


def _screenshot(driver, name: str) -> None:
    folder = os.environ.get("NAKAMA_RT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def _log_in(driver, base: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(base + "/")  # no cookie: to the login page
    WebDriverWait(driver, WAIT_S).until(ready.url_contains("/login"))
    driver.find_element(By.NAME, "username").send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys("password")
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    WebDriverWait(driver, WAIT_S).until(
        ready.presence_of_element_located((By.CSS_SELECTOR, "[data-figure='sessions']"))
    )


def _wait_for_row(driver, username: str) -> str:
    """The session id of the live table's row for ``username``, once it shows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def row(d):
        for tr in d.find_elements(By.CSS_SELECTOR, "#live-sessions tr[data-session]"):
            if tr.find_elements(By.TAG_NAME, "td")[0].text == username:
                return tr.get_attribute("data-session")
        return False

    return WebDriverWait(driver, WAIT_S).until(row)


async def _open_a_session(browser, server):
    """A client opens a session on ``server`` (one with ``port`` and ``app``); it
    appears on the open overview without a reload. Its username, the client and the
    session id the page shows."""
    name = f"live{uuid.uuid4().hex[:8]}"
    session = await authenticate(server.port, f"browser-{uuid.uuid4()}", username=name)
    client = await connect(server.port, session["token"])
    shown = await deferToThread(_wait_for_row, browser, name)
    assert shown == next(iter(server.app.server.sessions)).id
    return name, client, shown


def _find_and_disconnect(driver, base: str, username: str) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(base + "/sessions")
    box = driver.find_element(By.NAME, "q")
    box.send_keys(username)
    box.submit()
    WebDriverWait(driver, WAIT_S).until(ready.url_contains("/sessions?q="))
    WebDriverWait(driver, WAIT_S).until(
        ready.presence_of_element_located((By.CSS_SELECTOR, "table.sessions tr[data-session]"))
    )
    found = driver.find_element(By.CSS_SELECTOR, "table.sessions tr[data-session]")
    session_id = found.get_attribute("data-session")
    _screenshot(driver, "console-sessions")
    found.find_element(By.CSS_SELECTOR, "button").click()
    WebDriverWait(driver, WAIT_S).until(ready.url_contains("/sessions?q="))
    return session_id


@pytest_twisted.ensureDeferred
async def test_an_operator_sees_a_session_live_finds_it_and_disconnects_it(
    tmp_path, browser
) -> None:
    running = await start_server(make_config(tmp_path))
    console = reactor.listenTCP(0, running.app.console_site(), interface="127.0.0.1")
    base = f"http://127.0.0.1:{console.getHost().port}"
    try:
        await deferToThread(_log_in, browser, base)
        assert running.app.console_auth.failures == 0
        name, client, shown = await _open_a_session(browser, running)
        await deferToThread(_screenshot, browser, "console-overview")
        disconnected = await deferToThread(_find_and_disconnect, browser, base, name)
        assert disconnected == shown
        assert await client.closed() == (1000, DISCONNECT_REASON)
        assert len(running.app.server.sessions) == 0
    finally:
        await console.stopListening()
        await stop_server(running)


@pytest_twisted.ensureDeferred
async def test_a_wrong_password_in_the_browser_stays_on_the_login(tmp_path, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    running = await start_server(make_config(tmp_path))
    console = reactor.listenTCP(0, running.app.console_site(), interface="127.0.0.1")
    base = f"http://127.0.0.1:{console.getHost().port}"

    def attempt() -> str:
        browser.get(base + "/login")
        browser.find_element(By.NAME, "username").send_keys("admin")
        browser.find_element(By.NAME, "password").send_keys("nope")
        browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
        # (the answer comes after the wrong password's delay)
        shown = WebDriverWait(browser, WAIT_S).until(
            ready.presence_of_element_located((By.CSS_SELECTOR, ".error"))
        )
        return shown.text

    try:
        assert await deferToThread(attempt) == "Wrong username or password."
        assert running.app.console_auth.failures == 1
        cookies = await deferToThread(browser.get_cookies)
        assert cookies == []
    finally:
        await console.stopListening()
        await stop_server(running)


EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "runtime"


def _end_match(driver, base: str, match_id: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(base + "/matches?q=%2Blabel.mode%3Aarena")
    row = driver.find_element(By.CSS_SELECTOR, f"tr[data-match='{match_id}']")
    grace = row.find_element(By.NAME, "grace")
    grace.clear()
    grace.send_keys("0")
    _screenshot(driver, "console-matches")
    row.find_element(By.CSS_SELECTOR, "button").click()
    # The answer is a new page: read it once the old one is gone (an element found on
    # the old page and read after it went fails with "does not belong to the document").
    WebDriverWait(driver, WAIT_S).until(ready.staleness_of(row))
    WebDriverWait(driver, WAIT_S).until(
        ready.text_to_be_present_in_element((By.CSS_SELECTOR, ".main"), "No match.")
    )


@pytest_twisted.ensureDeferred
async def test_an_operator_ends_an_authoritative_match(tmp_path, browser) -> None:
    import orjson

    config = make_config(tmp_path, runtime={"path": str(EXAMPLES)})
    running = await start_server(config)
    console = reactor.listenTCP(0, running.app.console_site(), interface="127.0.0.1")
    base = f"http://127.0.0.1:{console.getHost().port}"
    try:
        session = await authenticate(running.port, f"browser-{uuid.uuid4()}", username="red")
        client = await connect(running.port, session["token"])
        created = await client.request({"cid": "1", "rpc": {"id": "create_arena"}})
        match_id = orjson.loads(created["rpc"]["payload"])["match_id"]
        join = {"match_id": match_id, "metadata": {"team": "red"}}
        await client.request({"cid": "2", "match_join": join})
        await deferToThread(_log_in, browser, base)
        await deferToThread(_end_match, browser, base, match_id)
        assert len(running.app.server.match_registry) == 0
        while True:  # the arena's final score, then everyone leaves the ended match
            message = await client.next()
            if message.get("match_presence_event", {}).get("leaves"):
                break
        assert message["match_presence_event"]["leaves"][0]["username"] == "red"
        client.sendClose()
    finally:
        await console.stopListening()
        await stop_server(running)


def _wait_for_nodes(driver, names: list[str]) -> None:
    """The overview's node table shows a figure row for each of ``names``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def filled(d):
        rows = d.find_elements(By.CSS_SELECTOR, "#live-nodes tr[data-node]")
        shown = {
            r.get_attribute("data-node")
            for r in rows
            if len(r.find_elements(By.TAG_NAME, "td")) == 7
        }
        return shown == set(names)

    WebDriverWait(driver, WAIT_S).until(filled)


def _disconnect_live_row(driver, session_id: str) -> None:
    """Press Disconnect on the overview's live row (the form the script built)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    row = driver.find_element(By.CSS_SELECTOR, f"#live-sessions tr[data-session='{session_id}']")
    row.find_element(By.CSS_SELECTOR, "button").click()
    WebDriverWait(driver, WAIT_S).until(ready.staleness_of(row))  # the answer's page
    WebDriverWait(driver, WAIT_S).until(
        ready.presence_of_element_located((By.CSS_SELECTOR, "[data-figure='sessions']"))
    )


@pytest_twisted.ensureDeferred
async def test_one_console_shows_and_acts_on_every_node_of_a_cluster(
    tmp_path, redis_url, browser
) -> None:
    from test_cluster_delivery import start_nodes

    a, b = await start_nodes(tmp_path, redis_url, ("a", "b"))
    console = reactor.listenTCP(0, a.app.console_site(), interface="127.0.0.1")
    base = f"http://127.0.0.1:{console.getHost().port}"
    try:
        await deferToThread(_log_in, browser, base)
        await deferToThread(_wait_for_nodes, browser, ["a", "b"])
        # A session of node b appears on node a's open overview.
        _, client, shown = await _open_a_session(browser, b)
        await deferToThread(_screenshot, browser, "console-cluster-overview")
        await deferToThread(_disconnect_live_row, browser, shown)
        assert await client.closed() == (1000, DISCONNECT_REASON)
    finally:
        await console.stopListening()
        for node in (a, b):
            await node.stop()
