"""Headless Chromium driven over the DevTools protocol, standard library only.

With --remote-debugging-pipe, Chromium reads protocol messages (JSON, each
ended by a NUL byte) from its fd 3 and writes replies and events to fd 4.
"""

import fcntl
import json
import os
import shutil
import subprocess
import threading
import time

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
# Recorded from the first script of every document, before the page's own:
# the browser fires this event for each thing the Content-Security-Policy blocks.
RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.effectiveDirective} blocked ${event.blockedURI}`);
});
"""


def chromium_binary():
    return next((path for path in map(shutil.which, CHROMIUM_NAMES) if path), None)


class Page:
    def __init__(self, browser, session):
        self.browser = browser
        self.session = session

    def send(self, method, **params):
        return self.browser.send(method, params, session=self.session)

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def load(self, url=None, action=None):
        """Go to `url` (or run the JavaScript `action`, e.g. a form submit) and
        wait for the next page to load; the errors it logged."""
        self.browser.events_since(self.session)  # forget what came before
        if url:
            self.send("Page.navigate", url=url)
        else:
            self.evaluate(action)
        self.browser.wait_for_event("Page.loadEventFired", self.session)
        time.sleep(0.2)  # deferred scripts and late violations
        events = self.browser.events_since(self.session)
        return [
            event["params"]["entry"]["text"] for event in events
            if event["method"] == "Log.entryAdded" and event["params"]["entry"]["level"] == "error"
        ] + [
            event["params"]["exceptionDetails"]["text"] for event in events if event["method"] == "Runtime.exceptionThrown"
        ]

    def csp_violations(self):
        return self.evaluate("window.cspViolations")


class Browser:
    def __init__(self, binary, user_data_dir, log_path):
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()

        def wire_protocol_pipes():  # in the child, before exec
            commands = fcntl.fcntl(commands_read, fcntl.F_DUPFD, 10)
            replies = fcntl.fcntl(replies_write, fcntl.F_DUPFD, 10)
            os.dup2(commands, 3)
            os.dup2(replies, 4)

        with open(log_path, "w") as log:
            self.process = subprocess.Popen(
                [
                    binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--no-first-run", "--no-default-browser-check",
                    f"--user-data-dir={user_data_dir}", "--remote-debugging-pipe", "about:blank",
                ],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=wire_protocol_pipes, close_fds=False,
            )
        os.close(commands_read)
        os.close(replies_write)
        self._next_id = 0
        self._replies_by_id = {}
        self._events = []
        self._arrived = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buffer = b""
        while chunk := os.read(self._replies, 65536):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            with self._arrived:
                for message in map(json.loads, messages):
                    if "id" in message:
                        self._replies_by_id[message["id"]] = message
                    else:
                        self._events.append(message)
                self._arrived.notify_all()

    def send(self, method, params=None, session=None, timeout=30):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        with self._arrived:
            if not self._arrived.wait_for(lambda: self._next_id in self._replies_by_id, timeout):
                raise TimeoutError(f"Chromium did not answer {method}")
            reply = self._replies_by_id.pop(self._next_id)
        if "error" in reply:
            raise AssertionError(f"{method}: {reply['error']}")
        return reply["result"]

    def events_since(self, session):
        with self._arrived:
            mine = [event for event in self._events if event.get("sessionId") == session]
            self._events = [event for event in self._events if event.get("sessionId") != session]
        return mine

    def wait_for_event(self, method, session, timeout=30):
        def arrived():
            return any(event["method"] == method and event.get("sessionId") == session for event in self._events)

        with self._arrived:
            if not self._arrived.wait_for(arrived, timeout):
                raise TimeoutError(f"no {method} within {timeout} s")

    def new_page(self):
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        for domain in ("Page", "Runtime", "Log"):
            page.send(f"{domain}.enable")
        page.send("Page.addScriptToEvaluateOnNewDocument", source=RECORD_CSP_VIOLATIONS)
        return page

    def close(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._replies)
