"""Shared helpers for the end-to-end tests: the real policy-relayd, a real capture upstream,
raw SMTP clients, log parsing. Every wait has a deadline; nothing sleeps to assert.

    with CaptureUpstream() as upstream, Relay(upstream=upstream) as relay:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client: ...
        message = upstream.wait_for_messages(1)[0]
        relay.wait_for_event("deliver", id=queued_id)

Environment: POLICY_RELAYD (the daemon binary, required), E2E_KEEP=1 keeps temporary
directories for inspection (their path is printed).
"""

import ctypes
import json
import os
import re
import select
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

PYTHON = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURE_SCRIPT = os.path.join(HERE, "capture_upstream.py")

SENDER = "sender@edomex.gob.mx"
GENEROUS_LIMITS = {"messages_per_minute": 1000000, "recipients_per_day": 100000000,
                   "queue_backlog_per_sender": 1000000}
START_TIMEOUT = 10.0
STOP_TIMEOUT = 20.0
LOG_TAIL_LINES = 60  # of the relay's log, printed when a test fails
QUEUED_AS = re.compile(rb"^250[ -]2\.0\.0 Ok: queued as (\S+)", re.MULTILINE)


def relayd_path():
    path = os.environ.get("POLICY_RELAYD", "")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError(f"POLICY_RELAYD={path!r} is not an executable policy-relayd")
    return path


def ctl_path():
    path = os.environ.get("POLICY_RELAYCTL", "")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError(f"POLICY_RELAYCTL={path!r} is not an executable policy-relayctl")
    return path


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when the test process dies, so no relay or capture
    upstream outlives a crashed or killed test run (Linux prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


def wait_for(predicate, timeout, interval=0.05, message="condition"):
    """Polls predicate() until it returns a truthy value (returned) or the deadline passes
    (AssertionError naming `message`, or what message() returns then, and the last value)."""
    deadline = time.monotonic() + timeout
    value = None
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            described = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout}s waiting for {described}; last: {value!r}")
        time.sleep(interval)


def reserve_port():
    """A loopback port that was free a moment ago (for an upstream that starts later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_temp_dir(prefix):
    return tempfile.mkdtemp(prefix=f"policy-relay-e2e-{prefix}-")


def remove_temp_dir(path, failed):
    if os.environ.get("E2E_KEEP") == "1" or failed:
        print(f"e2e: kept {path}", file=sys.stderr)
        return
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Log lines: "TIMESTAMP level=info event=accept id=X from=a@b rcpts=2 size=123"


def parse_kv(line):
    """One kv log line as a dict; the leading timestamp is "ts". Quoted values may contain
    spaces, '=' and backslash escapes (\\" and \\\\ are decoded, \\xHH is kept as written)."""
    fields = {}
    position = 0
    length = len(line)
    first = True
    while position < length:
        while position < length and line[position] == " ":
            position += 1
        if position >= length:
            break
        key_end = position
        while key_end < length and line[key_end] not in "= ":
            key_end += 1
        if key_end >= length or line[key_end] == " ":
            token = line[position:key_end]
            if first:
                fields["ts"] = token
            else:
                fields.setdefault("_bare", []).append(token)
            position = key_end
            first = False
            continue
        first = False
        key = line[position:key_end]
        position = key_end + 1
        if position < length and line[position] == '"':
            position += 1
            value = []
            while position < length and line[position] != '"':
                if line[position] == "\\" and position + 1 < length:
                    escaped = line[position + 1]
                    if escaped in '"\\':
                        value.append(escaped)
                    else:
                        value.append("\\" + escaped)
                    position += 2
                else:
                    value.append(line[position])
                    position += 1
            position += 1
            fields[key] = "".join(value)
        else:
            value_end = line.find(" ", position)
            if value_end < 0:
                value_end = length
            fields[key] = line[position:value_end]
            position = value_end
    return fields


# ---------------------------------------------------------------------------------------------
# Messages as delivered


def split_received(message):
    """(the first header field if it is Received, folded lines included; the rest)."""
    if not message.lower().startswith(b"received:"):
        return b"", message
    position = 0
    while True:
        line_end = message.find(b"\r\n", position)
        if line_end < 0:
            return message, b""
        position = line_end + 2
        if position >= len(message) or message[position:position + 1] not in (b" ", b"\t"):
            return message[:position], message[position:]


def count_header(message, name):
    head = message.split(b"\r\n\r\n", 1)[0]
    prefix = name.lower().encode() + b":"
    return sum(1 for line in head.split(b"\r\n") if line.lower().startswith(prefix))


def queued_id(reply_text):
    """The ID from "250 2.0.0 Ok: queued as ID" (bytes or str, with or without the code)."""
    if isinstance(reply_text, str):
        reply_text = reply_text.encode("utf-8", "surrogateescape")
    if not reply_text.startswith(b"250"):
        reply_text = b"250 " + reply_text
    match = QUEUED_AS.search(reply_text)
    return match.group(1).decode() if match else None


# ---------------------------------------------------------------------------------------------
# The capture upstream (capture_upstream.py in its own process)


class Captured:
    def __init__(self, envelope, data, name):
        self.envelope = envelope
        self.data = data
        self.name = name

    @property
    def mail_from(self):
        return self.envelope["mail_from"]

    @property
    def rcpt_tos(self):
        return self.envelope["rcpt_tos"]

    def __repr__(self):
        return f"Captured({self.name}, from={self.mail_from!r}, to={self.rcpt_tos!r}, {len(self.data)} octets)"


class CaptureUpstream:
    """capture_upstream.py as a child process. rcpt/data: lists of "PATTERN=REPLY" rules."""

    def __init__(self, port=0, rcpt=(), data=(), data_times=0, rcpt_times=0, stall=0.0, start=True,
                 extra_arguments=()):
        self.extra_arguments = list(extra_arguments)  # --tls-cert, --auth ... (capture_upstream.py)
        self.temp_dir = make_temp_dir("capture")
        self.directory = os.path.join(self.temp_dir, "messages")
        self.port = port
        self.rcpt = list(rcpt)
        self.data = list(data)
        self.data_times = data_times
        self.rcpt_times = rcpt_times
        self.stall = stall
        self.process = None
        self.starts = 0
        self._cache = {}
        self._failed = False
        if start:
            self.start()

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        self._failed = kind is not None
        self.stop()
        remove_temp_dir(self.temp_dir, self._failed)

    def start(self):
        assert self.process is None, "capture upstream already running"
        self.starts += 1
        arguments = [PYTHON, CAPTURE_SCRIPT, "--dir", self.directory, "--port", str(self.port),
                     "--data-times", str(self.data_times), "--rcpt-times", str(self.rcpt_times),
                     "--stall", str(self.stall)]
        for rule in self.rcpt:
            arguments += ["--rcpt", rule]
        for rule in self.data:
            arguments += ["--data", rule]
        arguments += self.extra_arguments
        self.stderr_path = os.path.join(self.temp_dir, f"capture.stderr.{self.starts}")
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(arguments, stdout=subprocess.PIPE, stderr=stderr,
                                            preexec_fn=_die_with_parent)
        deadline = time.monotonic() + START_TIMEOUT
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            readable, _, _ = select.select([self.process.stdout], [], [], max(remaining, 0))
            chunk = os.read(self.process.stdout.fileno(), 64) if readable else b""
            if not chunk:
                self.kill()
                raise RuntimeError(f"capture upstream did not start: {self.stderr()}")
            line += chunk
        self.port = int(line.strip())

    def stderr(self):
        try:
            with open(self.stderr_path, "r", errors="replace") as file:
                return file.read()
        except OSError:
            return ""

    def stop(self):
        """SIGTERM and wait; the port is kept for a later start()."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
        self.process.stdout.close()
        self.process = None

    def kill(self):
        if self.process is None:
            return
        self.process.kill()
        self.process.wait(timeout=STOP_TIMEOUT)
        self.process.stdout.close()
        self.process = None

    def messages(self):
        """Every stored transaction, in arrival order."""
        if not os.path.isdir(self.directory):
            return []
        result = []
        for name in sorted(os.listdir(self.directory)):
            if not name.endswith(".json"):
                continue
            stem = name[:-5]
            if stem not in self._cache:  # stored files never change: read each once
                with open(os.path.join(self.directory, name), "rb") as file:
                    envelope = json.loads(file.read().decode("utf-8"))
                with open(os.path.join(self.directory, stem + ".eml"), "rb") as file:
                    data = file.read()
                self._cache[stem] = Captured(envelope, data, stem)
            result.append(self._cache[stem])
        return result

    def wait_for_messages(self, count, timeout=15.0, where=None):
        """At least `count` stored transactions (those for which where(m) holds, if given)."""

        def enough():
            found = [m for m in self.messages() if where is None or where(m)]
            return found if len(found) >= count else None

        return wait_for(enough, timeout, message=f"{count} captured message(s) at {self.directory}")


# ---------------------------------------------------------------------------------------------
# TOML


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def to_toml(sections):
    """{"section": {key: value}} as [section] tables; {"section": [{...}, ...]} (a list of dicts,
    e.g. "exceptions") as [[section]] array-of-tables entries."""
    lines = []
    for section, keys in sections.items():
        for entry in keys if isinstance(keys, list) else [keys]:
            lines.append(f"[[{section}]]" if isinstance(keys, list) else f"[{section}]")
            for key, value in entry.items():
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
    return "\n".join(lines)


def merge_config(base, overrides):
    """Keys of a [section] are merged one by one; a [[section]] list is replaced whole."""
    merged = {section: (list(keys) if isinstance(keys, list) else dict(keys))
              for section, keys in base.items()}
    for section, keys in (overrides or {}).items():
        if isinstance(keys, list):
            merged[section] = list(keys)
        else:
            merged.setdefault(section, {}).update(keys)
    return merged


# ---------------------------------------------------------------------------------------------
# The relay


class Relay:
    """policy-relayd on 127.0.0.1:0 with a spool and a kv log file in a temporary directory.

    upstream: a CaptureUpstream, or a port number (for an upstream that is not running yet),
    or None with mode="directory". config: {"section": {"key": value}} merged over the base.
    """

    def __init__(self, upstream=None, mode="smtp", config=None, start=True):
        self.temp_dir = make_temp_dir("relay")
        self.spool_directory = os.path.join(self.temp_dir, "spool")
        self.state_directory = os.path.join(self.temp_dir, "state")
        self.log_path = os.path.join(self.temp_dir, "relay.log")
        self.delivered_directory = os.path.join(self.temp_dir, "delivered")
        self.config_path = os.path.join(self.temp_dir, "policy-relay.toml")
        self.admin_socket = os.path.join(self.temp_dir, "admin.sock")
        base = {
            "server": {"listen": ["127.0.0.1:0"], "hostname": "relay.test"},
            "spool": {"directory": self.spool_directory, "retry_min": "1s", "retry_max": "2s"},
            # Limits no test meets unless it sets its own (test_limits.py, test_pacing.py ...):
            # the other tests send hundreds of messages from one sender.
            "limits": dict(GENEROUS_LIMITS),
            "state": {"directory": self.state_directory},
            "upstream": {},
            "log": {"file": self.log_path, "format": "kv", "level": "info"},
            "admin": {"socket": self.admin_socket},
        }
        if mode == "directory":
            os.makedirs(self.delivered_directory, exist_ok=True)
            base["upstream"] = {"mode": "directory", "directory": self.delivered_directory}
        else:
            upstream_port = upstream if isinstance(upstream, int) else upstream.port
            base["upstream"] = {"mode": "smtp", "host": "127.0.0.1", "port": upstream_port,
                                "tls": "none", "auth": "none", "connections": 4}
        self.config = merge_config(base, config)
        self.process = None
        self.port = None
        self.starts = 0
        self.env = None  # the daemon's environment (None: the test's)
        self._run_log_offset = 0
        self._failed = False
        self.write_config()
        if start:
            self.start()

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        self._failed = kind is not None
        if self.process is not None:
            if self._failed:
                self.kill()
            else:
                self.stop()
        if self._failed:
            self.print_log_tail()
        remove_temp_dir(self.temp_dir, self._failed)

    def print_log_tail(self, lines=LOG_TAIL_LINES):
        """The end of the relay's log on stderr: a failure in CI explains itself there (the kept
        temporary directory stays on the CI machine)."""
        tail = self.log_text().splitlines()[-lines:]
        print(f"e2e: last {len(tail)} lines of {self.log_path}:", file=sys.stderr)
        for line in tail:
            print(f"  {line[:400]}", file=sys.stderr)

    def write_config(self):
        with open(self.config_path, "w", encoding="utf-8") as file:
            file.write(to_toml(self.config))

    # -- process control ----------------------------------------------------------------------

    def start(self, same_port=False):
        """Starts the daemon and waits for its `event=listening` line; sets self.port."""
        assert self.process is None, "relay already running"
        if same_port and self.port:
            self.config["server"]["listen"] = [f"127.0.0.1:{self.port}"]
            self.write_config()
        self.starts += 1
        self._run_log_offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        self.stderr_path = os.path.join(self.temp_dir, f"relayd.stderr.{self.starts}")
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen([relayd_path(), "--config", self.config_path], env=self.env,
                                            stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                                            preexec_fn=_die_with_parent)

        def listening():
            if self.process.poll() is not None:
                raise AssertionError(f"policy-relayd exited with {self.process.returncode} at start:\n"
                                     f"{self.stderr()}\n{self.log_text()}")
            events = self.events("listening", this_run=True)
            return events[0] if events else None

        try:
            event = wait_for(listening, START_TIMEOUT, message="event=listening in the relay log")
        except AssertionError:
            self.kill()
            raise AssertionError(f"relay did not start:\nstderr:\n{self.stderr()}\nlog:\n{self.log_text()}")
        address = event.get("address", "")
        self.port = int(address.rsplit(":", 1)[1])
        return self.port

    def stop(self, expect_code=0, timeout=STOP_TIMEOUT):
        """SIGTERM, wait (bounded), and check the exit status. Returns it."""
        assert self.process is not None, "relay not running"
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
            self.process = None
            raise AssertionError(f"policy-relayd did not exit within {timeout}s of SIGTERM")
        self.process = None
        if expect_code is not None:
            assert code == expect_code, (f"policy-relayd exited with {code}, expected {expect_code}\n"
                                         f"stderr:\n{self.stderr()}")
        return code

    def kill(self):
        """kill -9: no chance to flush or clean up."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)
        self.process = None

    def restart(self, same_port=False):
        if self.process is not None:
            self.stop()
        return self.start(same_port=same_port)

    def running(self):
        return self.process is not None and self.process.poll() is None

    def stderr(self):
        try:
            with open(self.stderr_path, "r", errors="replace") as file:
                return file.read()
        except (OSError, AttributeError):
            return ""

    # -- policy-relayctl -------------------------------------------------------------------------

    def ctl(self, *args, json_output=False, check=True, stdin=None, timeout=30):
        """Runs policy-relayctl against this relay's admin socket: (exit code, stdout, stderr);
        with json_output the parsed --json document instead of stdout."""
        command = [ctl_path(), "--socket", self.admin_socket, "--config", self.config_path]
        if json_output:
            command.append("--json")
        result = subprocess.run(command + list(args), input=stdin, capture_output=True,
                                text=True, timeout=timeout)
        if check:
            assert result.returncode == 0, (f"policy-relayctl {' '.join(args)} exited with "
                                            f"{result.returncode}:\n{result.stdout}{result.stderr}")
        output = json.loads(result.stdout) if json_output and result.stdout.strip() else result.stdout
        return result.returncode, output, result.stderr

    # -- log ------------------------------------------------------------------------------------

    def log_text(self, this_run=False):
        try:
            with open(self.log_path, "rb") as file:
                if this_run:
                    file.seek(self._run_log_offset)
                return file.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_lines(self, this_run=False):
        """Every whole line of the log as a dict (a partial last line is left out)."""
        text = self.log_text(this_run)
        lines = text.split("\n")
        return [parse_kv(line) for line in lines[:-1] if line.strip()]

    def events(self, name, this_run=False, **match):
        """Log lines with event=name whose fields equal every key=value in `match`."""
        return [line for line in self.log_lines(this_run)
                if line.get("event") == name and all(line.get(k) == str(v) for k, v in match.items())]

    def wait_for_event(self, name, timeout=15.0, count=1, **match):
        return wait_for(lambda: (lambda found: found if len(found) >= count else None)(self.events(name, **match)),
                        timeout, message=f"{count} x event={name} {match} in {self.log_path}")

    # -- spool ----------------------------------------------------------------------------------

    def queued_ids(self):
        """Committed messages still in the spool (DIR/queue/ID, see spool.hpp)."""
        queue = os.path.join(self.spool_directory, "queue")
        if not os.path.isdir(queue):
            return []
        return sorted(name for name in os.listdir(queue) if "." not in name)

    def wait_queue_empty(self, timeout=20.0):
        wait_for(lambda: not self.queued_ids(), timeout, message="an empty spool queue")

    # -- directory mode -------------------------------------------------------------------------

    def delivered_files(self, queued):
        """(envelope dict, message bytes) from upstream mode "directory", or None."""
        eml = os.path.join(self.delivered_directory, queued + ".eml")
        if not os.path.exists(eml):
            return None
        with open(os.path.join(self.delivered_directory, queued + ".envelope.json"), "rb") as file:
            envelope = json.loads(file.read().decode("utf-8"))
        with open(eml, "rb") as file:
            return envelope, file.read()


# ---------------------------------------------------------------------------------------------
# A raw SMTP client: exact bytes out, replies parsed, a deadline on every read


class RawClient:
    def __init__(self, port, timeout=10.0, read_greeting=True, source="127.0.0.1"):
        self.timeout = timeout
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                               source_address=(source, 0))
        self.buffer = b""
        self.eof = False
        self.greeting = self.reply() if read_greeting else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.socket.close()
        except OSError:
            pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.socket.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no complete reply; buffered {self.buffer!r}")
        self.socket.settimeout(remaining)
        try:
            chunk = self.socket.recv(65536)
        except socket.timeout:
            raise TimeoutError(f"no complete reply; buffered {self.buffer!r}") from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
        self.buffer += chunk

    def reply(self, timeout=None):
        """One reply: (code, [text lines]) -- text is everything after "NNN-" / "NNN ".
        Returns (None, []) when the connection closed before a reply began."""
        deadline = time.monotonic() + (timeout or self.timeout)
        lines = []
        while True:
            while b"\r\n" not in self.buffer:
                if self.eof:
                    if lines or self.buffer:
                        raise AssertionError(f"connection closed inside a reply: {lines} {self.buffer!r}")
                    return None, []
                self._fill(deadline)
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            text = line.decode("utf-8", "replace")
            if len(text) < 3 or not text[:3].isdigit() or (len(text) > 3 and text[3] not in " -"):
                raise AssertionError(f"malformed reply line {line!r}")
            lines.append(text[4:])
            if len(text) == 3 or text[3] == " ":
                return int(text[:3]), lines

    def reply_line(self, timeout=None):
        """The last line of one reply as "CODE TEXT" (e.g. "250 2.0.0 Ok: queued as X")."""
        code, lines = self.reply(timeout)
        return None if code is None else f"{code} {lines[-1]}"

    def command(self, line, timeout=None):
        self.send(line if line.endswith("\r\n") else line + "\r\n")
        return self.reply_line(timeout)

    def wait_closed(self, timeout=None):
        """True when the server closes the connection before the deadline (data is drained)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self.eof:
            try:
                self._fill(deadline)
            except TimeoutError:
                return False
        return True

    def transaction(self, sender, recipients, message, ehlo="client.test"):
        """EHLO, MAIL, RCPT..., DATA, message (dot-stuffed here), "."; returns the final reply."""
        replies = [self.command(f"EHLO {ehlo}"), self.command(f"MAIL FROM:<{sender}>")]
        replies += [self.command(f"RCPT TO:<{r}>") for r in recipients]
        replies.append(self.command("DATA"))
        assert replies[-1] and replies[-1].startswith("354"), replies
        self.send(dot_stuff(message) + b".\r\n")
        return self.reply_line()


def dot_stuff(message):
    """RFC 5321 4.5.2 transparency; `message` must end with CRLF."""
    assert message.endswith(b"\r\n")
    lines = message.split(b"\r\n")
    return b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)


def simple_message(subject="test", body=b"Hello.\r\n", sender=SENDER, to="rcpt@example.org", extra=b""):
    """A small RFC 5322 message with CRLF line ends."""
    head = (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{re.sub(r'[^A-Za-z0-9]+', '.', subject)}.{time.time_ns()}@client.test>\r\n").encode()
    return head + extra + b"\r\n" + body


def drain_replies(client, timeout=5.0, until_code=221):
    """Reply lines ("CODE TEXT") until the server closes, answers `until_code`, or stays silent
    for `timeout` seconds."""
    replies = []
    while True:
        try:
            line = client.reply_line(timeout)
        except TimeoutError:
            return replies
        if line is None:
            return replies
        replies.append(line)
        if line.startswith(str(until_code)):
            return replies


def send_canary(relay, upstream, subject="canary"):
    """Sends one message and waits until it is delivered and the spool queue is empty: a
    barrier after which anything the relay was going to deliver earlier has been delivered.
    (Messages it accepted earlier are retried at most retry_max apart, so an empty queue means
    they went out or were dropped.)"""
    subject = f"{subject} {time.time_ns()}"
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
        refused = client.sendmail(SENDER, ["canary@example.org"], simple_message(subject=subject))
        assert refused == {}, refused
    token = subject.encode()
    upstream.wait_for_messages(1, where=lambda m: token in m.data)
    relay.wait_queue_empty()


# ---------------------------------------------------------------------------------------------
# Many clients at once, each message proven by the client: the pool records a token for every
# "250 ... queued as ID" it saw, and delivered_tokens() finds the tokens at the upstream.

POOL_THREADS = 4
POOL_TOKEN = re.compile(rb"^X-Pool-Token: (\S+)\r$", re.MULTILINE)
RECEIVED_ID = re.compile(rb" id (\S+)")


class ClientPool:
    """Threads that each send message after message over one connection until stopped or
    until the connection fails; `acknowledged` maps token -> queue id for every 250 seen."""

    def __init__(self, port):
        self.port = port
        self.lock = threading.Lock()
        self.acknowledged = {}
        self.unanswered = 0  # sent but the reply never came (the kill): may or may not be delivered
        self.errors = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(n,), daemon=True) for n in range(POOL_THREADS)]

    def start(self):
        for thread in self.threads:
            thread.start()

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self.threads)

    def count(self):
        with self.lock:
            return len(self.acknowledged)

    def run(self, number):
        sequence = 0
        try:
            client = smtplib.SMTP("127.0.0.1", self.port, timeout=10)
            client.ehlo("pool.test")
        except OSError as error:
            with self.lock:
                self.errors.append(f"thread {number} connect: {error!r}")
            return
        while not self.stop.is_set():
            sequence += 1
            token = f"t{number}-{sequence}"
            message = simple_message(subject=f"pool {token}", to="pool@example.org",
                                     extra=f"X-Pool-Token: {token}\r\n".encode(),
                                     body=b"pool message\r\n" * 40)
            try:
                code, _ = client.mail(SENDER)
                if code != 250:
                    raise smtplib.SMTPException(f"MAIL {code}")
                code, _ = client.rcpt("pool@example.org")
                if code != 250:
                    raise smtplib.SMTPException(f"RCPT {code}")
                code, text = client.data(message)
            except (OSError, smtplib.SMTPException) as error:
                with self.lock:
                    self.unanswered += 1
                    self.errors.append(f"thread {number}: {error!r}")
                break
            if code != 250:
                with self.lock:
                    self.errors.append(f"thread {number}: DATA {code} {text!r}")
                break
            with self.lock:
                self.acknowledged[token] = queued_id(text)
        try:
            client.close()
        except OSError:
            pass


def delivered_tokens(upstream):
    """token -> [(the queue id in its Received header, capture name)]"""
    found = {}
    for message in upstream.messages():
        match = POOL_TOKEN.search(message.data)
        if not match:
            continue
        received, _ = split_received(message.data)
        id_match = RECEIVED_ID.search(received)
        found.setdefault(match.group(1).decode(), []).append(
            (id_match.group(1).decode() if id_match else None, message.name))
    return found
