"""Queue pacing (rate_action = "queue", POLICY VI.4): the relay accepts every message at once and
hands at most messages_per_minute messages of one sender to the upstream in any window, in
arrival order, without holding up other senders; the window holds across kill -9.

The window is [limits] rate_window when the daemon has that key (a short one keeps the test
short), else the policy's 60 s with a larger limit (two windows: about two minutes in all).
Arrival times are the capture upstream's; the relay counts a release just before it starts the
delivery, so a window measured at the upstream may be short by the delivery's jitter: TOLERANCE.
"""

import os
import smtplib
import subprocess
import tempfile
import time
import unittest

from harness import SENDER, CaptureUpstream, Relay, queued_id, relayd_path, simple_message, to_toml, wait_for

MESSAGES = 40
TOLERANCE = 0.25  # seconds


def daemon_has_rate_window():
    """Whether this policy-relayd accepts [limits] rate_window (policy-relayd --check-config)."""
    with tempfile.TemporaryDirectory(prefix="policy-relay-e2e-probe-") as directory:
        path = os.path.join(directory, "probe.toml")
        with open(path, "w", encoding="utf-8") as file:
            file.write(to_toml({
                "server": {"listen": ["127.0.0.1:0"]},
                "spool": {"directory": os.path.join(directory, "spool")},
                "state": {"directory": os.path.join(directory, "state")},
                "upstream": {"mode": "directory", "directory": directory},
                "limits": {"rate_window": "2s"},
            }))
        result = subprocess.run([relayd_path(), "--config", path, "--check-config"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        return result.returncode == 0


if daemon_has_rate_window():
    WINDOW, LIMIT, WINDOW_KEYS = 2.0, 5, {"rate_window": "2s"}
else:
    WINDOW, LIMIT, WINDOW_KEYS = 60.0, 20, {}

PACED = {"limits": {"messages_per_minute": LIMIT, "rate_action": "queue",
                    "queue_backlog_per_sender": 1000, **WINDOW_KEYS}}


def send_in_order(port, sender, subjects):
    """One connection, one transaction per subject, in order; returns the queue ids."""
    ids = []
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.test")
        for subject in subjects:
            assert client.mail(sender)[0] == 250
            assert client.rcpt("paced@example.org")[0] == 250
            code, text = client.data(simple_message(subject=subject, sender=sender, to="paced@example.org"))
            assert code == 250, (code, text)
            ids.append(queued_id(text))
    return ids


def subject_of(message):
    for line in message.data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.startswith(b"Subject: "):
            return line[9:].decode()
    return None


def delivery_summary(relay, upstream):
    """What the relay did with the paced messages, for a failure message."""
    counts = {name: len(relay.events(name)) for name in ("accept", "pace", "deliver", "retry")}
    unusual = [line for line in relay.log_text().splitlines()
               if "level=warn" in line or "level=error" in line]
    return (f"upstream holds {len(upstream.messages())}; relay events {counts}; "
            f"queued {len(relay.queued_ids())}; warnings and errors:\n" + "\n".join(unusual[-30:]))


class PacingTest(unittest.TestCase):
    def assert_paced(self, times, limit, window):
        """Any limit + 1 hand-overs span at least the window (less the delivery jitter)."""
        times = sorted(times)
        for first in range(len(times) - limit):
            span = times[first + limit] - times[first]
            self.assertGreaterEqual(span, window - TOLERANCE,
                                    f"{limit + 1} messages within {span:.3f}s (window {window}s): "
                                    f"arrivals {[round(t - times[0], 3) for t in times]}")

    def test_forty_messages_of_one_sender_reach_the_upstream_at_most_n_in_any_window(self):
        subjects = [f"paced {n:02d}" for n in range(MESSAGES)]
        batches = -(-MESSAGES // LIMIT)
        with CaptureUpstream() as upstream, Relay(upstream=upstream, config=PACED) as relay:
            ids = send_in_order(relay.port, SENDER, subjects)
            self.assertEqual(len(set(ids)), MESSAGES, "every message accepted at once")
            # Another sender is not held up behind the paced backlog.
            send_in_order(relay.port, "other@edomex.gob.mx", ["other 00"])
            other = upstream.wait_for_messages(1, timeout=10, where=lambda m: subject_of(m) == "other 00")[0]

            # A hang detector, not a timing assertion: pacing alone needs about batches windows.
            try:
                delivered = upstream.wait_for_messages(MESSAGES + 1, timeout=WINDOW * batches * 3 + 60)
            except AssertionError as error:
                raise AssertionError(f"{error}\n{delivery_summary(relay, upstream)}") from None
            relay.wait_queue_empty()
            paced = [m for m in delivered if m.mail_from == SENDER]
            self.assertEqual(sorted(subject_of(m) for m in paced), subjects, "each message once")
            times = {subject_of(m): m.envelope["received_at"] for m in paced}
            self.assert_paced(list(times.values()), LIMIT, WINDOW)
            # Paced, not merely slow: the last batch left about batches - 1 windows after the first.
            spread = max(times.values()) - min(times.values())
            self.assertGreaterEqual(spread, (batches - 1) * WINDOW - TOLERANCE)
            self.assertLess(other.envelope["received_at"], max(times.values()) - WINDOW)
            # Arrival order: a later message never overtakes an earlier one by more than jitter.
            for earlier in range(MESSAGES):
                for later in range(earlier + 1, MESSAGES):
                    self.assertGreaterEqual(times[subjects[later]], times[subjects[earlier]] - TOLERANCE,
                                            f"{subjects[later]} overtook {subjects[earlier]}")
            self.assertTrue(relay.events("pace"), "the relay logs when it holds a sender back")
            self.assertEqual(relay.events("defer"), [], "queue mode accepts; it does not defer")

    def test_the_release_window_holds_across_kill_9(self):
        subjects = [f"crash {n:02d}" for n in range(2 * LIMIT)]
        with CaptureUpstream() as upstream, Relay(upstream=upstream, config=PACED) as relay:
            send_in_order(relay.port, SENDER, subjects)
            first = upstream.wait_for_messages(LIMIT, timeout=30)
            # The rest wait in the spool for the next window; the relay dies with them there.
            relay.kill()
            self.assertEqual(len(upstream.messages()), LIMIT)
            self.assertEqual(len(relay.queued_ids()), LIMIT)
            relay.start()
            delivered = upstream.wait_for_messages(2 * LIMIT, timeout=WINDOW + 30)
            self.assertEqual(sorted(subject_of(m) for m in delivered), subjects)
            first_window_start = min(m.envelope["received_at"] for m in first)
            after_restart = [m.envelope["received_at"] for m in delivered if m not in first]
            self.assertGreaterEqual(min(after_restart), first_window_start + WINDOW - TOLERANCE,
                                    "the restarted relay released into the window it had filled")
            self.assert_paced([m.envelope["received_at"] for m in delivered], LIMIT, WINDOW)
            relay.wait_queue_empty()


if __name__ == "__main__":
    unittest.main()
