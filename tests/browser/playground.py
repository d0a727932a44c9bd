#!/usr/bin/env python3
"""The playground (and `serve --ui`) in a real browser: headless Chromium over WebDriver.

It starts `rulehook playground --rules rules` on a free loopback port and `chromedriver` on
another, then uses the page as a person would: picks the hello rule, types a request, breaks
the rule and fixes it, and types kubectl YAML. Each step waits (up to TIMEOUT seconds) for
the answer pane to show text it did not show before, so a pane that stops updating fails.
Then it starts `rulehook serve --ui` with a token, types the token into the page, and waits
for the loaded rules and a loaded rule's answer.

It speaks the W3C WebDriver protocol with the standard library alone, so CI needs only the
`chromium` and `chromium-driver` packages.

Environment:
  RULEHOOK_BIN   the binary (default: $CARGO_TARGET_DIR or target, then debug/rulehook)
  CHROMEDRIVER   the driver (default: chromedriver on PATH)
  SCREENSHOT     also save the screenshot of the page there (e.g. docs/playground.png);
                 it is always saved to <target>/browser/playground.png
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
# Renders wait 300 ms after the last key; a slow CI machine gets ample room beyond that.
TIMEOUT = 15.0
# The window the screenshot in the README is taken at.
WINDOW = (1280, 800)
# WebDriver's name for an element in its JSON.
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
# WebDriver key codes.
BACKSPACE = "\ue003"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, timeout=TIMEOUT, seen=None):
    """Polls `check` until it returns something true; fails naming `what` and the last value,
    or what `seen` returns then."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (urllib.error.URLError, ConnectionError, WebDriverError) as e:
            last = e
        time.sleep(0.05)
    if seen:
        last = seen()
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last saw: {last!r}")


class WebDriverError(Exception):
    pass


class Browser:
    """One WebDriver session with a chromedriver child process."""

    def __init__(self, driver):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [driver, f"--port={self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for("chromedriver", lambda: self.call("GET", "/status")["ready"])
        self.profile = tempfile.mkdtemp(prefix="rulehook-browser-")
        args = [
            "--headless=new",
            "--no-sandbox",  # CI runs as root in a container
            "--disable-dev-shm-usage",
            "--disable-gpu",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            f"--user-data-dir={self.profile}",
        ]
        options = {"args": args}
        for binary in ("chromium", "chromium-browser", "google-chrome"):
            path = shutil.which(binary)
            if path:
                options["binary"] = path
                break
        capabilities = {"alwaysMatch": {"goog:chromeOptions": options}}
        session = self.call("POST", "/session", {"capabilities": capabilities})
        self.session = f"/session/{session['sessionId']}"
        # The page itself WINDOW large, whatever the browser's frame takes.
        frame = self.script("return [outerWidth - innerWidth, outerHeight - innerHeight];")
        self.command("POST", "/window/rect", {"width": WINDOW[0] + frame[0], "height": WINDOW[1] + frame[1]})

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.load(response)["value"]
        except urllib.error.HTTPError as e:
            raise WebDriverError(f"{method} {path}: {e.code} {e.read().decode(errors='replace')}")

    def command(self, method, path, body=None):
        return self.call(method, self.session + path, body)

    def open(self, url):
        self.command("POST", "/url", {"url": url})

    def find(self, css):
        found = self.command("POST", "/element", {"using": "css selector", "value": css})
        return found[ELEMENT]

    def text(self, css):
        return self.command("GET", f"/element/{self.find(css)}/text")

    def script(self, source, *args):
        return self.command("POST", "/execute/sync", {"script": source, "args": list(args)})

    def clear(self, css):
        self.command("POST", f"/element/{self.find(css)}/clear", {})

    def type(self, css, keys):
        """Key presses into the element, at its caret when it has the focus."""
        self.command("POST", f"/element/{self.find(css)}/value", {"text": keys})

    def select(self, css, value):
        self.command("POST", f"/element/{self.find(f'{css} option[value={value!r}]')}/click", {})

    def screenshot(self, path):
        png = base64.b64decode(self.command("GET", "/screenshot"))
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as out:
            out.write(png)

    def close(self):
        try:
            self.call("DELETE", self.session)
        except Exception:
            pass
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)


def start_rulehook(binary, args, ready_path):
    """`rulehook ARGS --listen <a free port>` from the repository root, once `ready_path` answers."""
    addr = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [binary, *args, "--listen", addr],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def up():
        with urllib.request.urlopen(f"http://{addr}{ready_path}", timeout=2) as response:
            return response.status == 200

    wait_for(f"rulehook {args[0]} to listen", up)
    return process, f"http://{addr}"


def wait_for_answer(browser, needle, gone=None):
    """Waits until the answer pane shows `needle` (and no longer `gone`)."""

    def check():
        text = browser.text("#answer")
        return needle in text and (gone is None or gone not in text)

    wait_for(f"{needle} in the answer", check, seen=lambda: browser.text("#answer"))


# A hook request typed as JSON: the parent alone, no children yet.
ADA_JSON = '{"parent": {"apiVersion": "example.com/v1", "kind": "HelloWorld", ' \
    '"metadata": {"name": "ada", "namespace": "hello"}, "spec": {"who": "Ada"}}, ' \
    '"children": {}}'

# The same kind of parent as `kubectl get helloworld grace -o yaml` prints it.
GRACE_YAML = """apiVersion: example.com/v1
kind: HelloWorld
metadata:
  name: grace
  namespace: hello
spec:
  who: Grace
"""


def run(browser, url, screenshots):
    browser.open(url)
    wait_for("the saved hello rule", lambda: browser.script("return document.getElementById('saved').value") == "hello")
    browser.select("#saved", "hello")
    wait_for_answer(browser, "Hello, Your Name!")
    assert "hello.yaml" in browser.text("#rule-file").lower(), browser.text("#rule-file")

    step("a hook request typed as JSON")
    browser.clear("#request")
    browser.type("#request", ADA_JSON)
    wait_for_answer(browser, "Hello, Ada!", gone="Your Name")
    assert "no problems" in browser.text("#diagnostics"), browser.text("#diagnostics")

    step("a broken rule is marked at its line")
    # The caret before `World` in `default: World`; then a key press opens a list there.
    line = browser.script(
        """const rule = document.getElementById('rule');
        const at = rule.value.indexOf('default: World') + 'default: '.length;
        rule.focus();
        rule.setSelectionRange(at, at);
        return rule.value.slice(0, at).split('\\n').length;"""
    )
    browser.type("#rule", "[")
    problems = wait_for("a problem in the rule", lambda: _rule_error(browser))
    marked = browser.script(
        "return [...document.querySelectorAll('#rule-gutter .bad')].map((m) => Number(m.textContent));"
    )
    reported = int(problems.split(":")[1])
    # An unclosed list is noticed on its line or the next.
    assert reported in (line, line + 1), f"line {line} was broken, the problem is at {problems!r}"
    assert marked == [reported], f"the gutter marks {marked}, the problem is at line {reported}"
    assert "no answer" in browser.text("#answer"), browser.text("#answer")

    step("fixed again, the answer is back")
    browser.type("#rule", BACKSPACE)
    wait_for_answer(browser, "Hello, Ada!", gone="no answer")
    wait_for("no problems", lambda: "no problems" in browser.text("#diagnostics"))
    assert browser.script("return document.querySelectorAll('#rule-gutter .bad').length") == 0

    step("kubectl YAML")
    browser.clear("#request")
    browser.type("#request", GRACE_YAML)
    wait_for_answer(browser, "Hello, Grace!", gone="Ada")
    wait_for_answer(browser, "name: grace")
    # The rule from its first line, as it opens.
    browser.script("const r = document.getElementById('rule'); r.blur(); r.scrollTop = 0; r.scrollLeft = 0;"
                   "r.dispatchEvent(new Event('scroll'));")
    for path in screenshots:
        browser.screenshot(path)
        print(f"screenshot: {os.path.relpath(path, ROOT)}")


def run_ui(browser, base, screenshot):
    """`serve --ui`: asks for the token, then lists the rules, their calls, and answers with one."""
    with open(os.path.join(ROOT, "tests", "fixtures", "hello-sync-v1.json"), "rb") as fixture:
        hook = urllib.request.Request(base + "/hello/sync", data=fixture.read(), method="POST")
    hook.add_header("Content-Type", "application/json")
    hook.add_header("Authorization", "Bearer s3cret-token")
    with urllib.request.urlopen(hook, timeout=10) as response:
        assert response.status == 200, response.status
    browser.open(base + "/ui")
    wait_for("the page to ask for the token", lambda: "Token" in browser.text("#loaded"))
    browser.type("#token", "s3cret-token\t")
    wait_for("the loaded hello rule", lambda: "rules/hello.yaml" in browser.text("#loaded"))
    assert "1 call, 0 errors" in browser.text("#loaded"), browser.text("#loaded")
    wait_for_answer(browser, "Hello, Your Name!")
    browser.clear("#request")
    browser.type("#request", GRACE_YAML)
    wait_for_answer(browser, "Hello, Grace!", gone="Your Name")
    browser.screenshot(screenshot)


def _rule_error(browser):
    for line in browser.text("#diagnostics").splitlines():
        if line.startswith("rule:") and ": error:" in line:
            return line
    return None


def step(what):
    print(f"  {what}")


def main():
    binary = os.environ.get("RULEHOOK_BIN") or os.path.join(TARGET, "debug", "rulehook")
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    if not os.path.exists(binary):
        sys.exit(f"no rulehook binary at {binary}; run `cargo build` first or set RULEHOOK_BIN")
    if not driver:
        sys.exit("no chromedriver on PATH; install chromium and chromium-driver, or set CHROMEDRIVER")
    screenshots = [os.path.join(TARGET, "browser", "playground.png")]
    if os.environ.get("SCREENSHOT"):
        screenshots.append(os.path.join(ROOT, os.environ["SCREENSHOT"]))
    started = time.monotonic()
    token = tempfile.NamedTemporaryFile("w", prefix="rulehook-token-", delete=False)
    token.write("s3cret-token\n")
    token.close()
    servers = []
    browser = None
    try:
        playground, url = start_rulehook(binary, ["playground", "--rules", "rules"], "/api/rules")
        servers.append(playground)
        browser = Browser(driver)
        print("rulehook playground")
        run(browser, url + "/", screenshots)
        serve_args = ["serve", "--rules", "rules", "--ui", "--auth-token-file", token.name]
        serve, base = start_rulehook(binary, serve_args, "/healthz")
        servers.append(serve)
        print("rulehook serve --ui")
        run_ui(browser, base, os.path.join(TARGET, "browser", "ui.png"))
    except Exception:
        if browser:
            failed = os.path.join(TARGET, "browser", "failed.png")
            browser.screenshot(failed)
            print(f"the page as it was: {failed}", file=sys.stderr)
        raise
    finally:
        if browser:
            browser.close()
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
        os.unlink(token.name)
    print(f"the playground and serve --ui work in a browser ({time.monotonic() - started:.1f}s)")


if __name__ == "__main__":
    main()
