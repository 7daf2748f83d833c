"""Temporary upstream failures: the relay keeps accepting, keeps the mail in its spool and
delivers every accepted message once the upstream is back (retry_min 1s, retry_max 2s)."""

import smtplib
import time
import unittest

from harness import SENDER, CaptureUpstream, Relay, queued_id, reserve_port, simple_message, wait_for


def submit(port, recipient, subject):
    """One message; returns its queue id (asserting the 250)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("client.test")
        assert client.mail(SENDER)[0] == 250
        assert client.rcpt(recipient)[0] == 250
        code, text = client.data(simple_message(subject=subject, to=recipient))
        assert code == 250, (code, text)
        identifier = queued_id(text)
        assert identifier, text
        return identifier


def subjects(upstream):
    found = []
    for message in upstream.messages():
        for line in message.data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
            if line.startswith(b"Subject: "):
                found.append(line[9:].decode())
    return found


class RetryTest(unittest.TestCase):
    def test_messages_accepted_while_the_upstream_is_down_are_delivered_when_it_starts(self):
        upstream = CaptureUpstream(port=reserve_port(), start=False)
        self.addCleanup(upstream.__exit__, None, None, None)
        with Relay(upstream=upstream.port) as relay:
            ids = [submit(relay.port, f"down{n}@example.org", f"down {n}") for n in range(3)]
            self.assertEqual(len(set(ids)), 3)
            # The relay tried and failed, and keeps the messages.
            relay.wait_for_event("retry", timeout=10)
            self.assertEqual(sorted(relay.queued_ids()), sorted(ids))
            self.assertEqual(upstream.messages(), [])
            upstream.start()
            wait_for(lambda: sorted(subjects(upstream)) == ["down 0", "down 1", "down 2"], 20,
                     message="the three spooled messages delivered after the upstream started")
            for identifier in ids:
                relay.wait_for_event("deliver", id=identifier)
            relay.wait_queue_empty()

    def test_upstream_stopped_then_restarted_loses_nothing(self):
        with CaptureUpstream() as upstream, Relay(upstream=upstream) as relay:
            submit(relay.port, "before@example.org", "before")
            upstream.wait_for_messages(1)
            upstream.stop()
            for n in range(5):
                submit(relay.port, f"while{n}@example.org", f"while {n}")
            relay.wait_for_event("retry", timeout=10)
            upstream.start()
            expected = ["before"] + [f"while {n}" for n in range(5)]
            wait_for(lambda: sorted(subjects(upstream)) == sorted(expected), 20,
                     message=f"{expected} delivered; got {subjects(upstream)}")
            relay.wait_queue_empty()
            self.assertEqual(len(upstream.messages()), 6, "a message was delivered twice")

    def test_upstream_4xx_on_data_is_retried_until_accepted(self):
        with CaptureUpstream(data=["*@flaky.example=451 4.3.0 Try again later"], data_times=2) as upstream, \
                Relay(upstream=upstream) as relay:
            identifier = submit(relay.port, "someone@flaky.example", "flaky")
            delivered = upstream.wait_for_messages(1, timeout=20)
            self.assertEqual(delivered[0].rcpt_tos, ["someone@flaky.example"])
            self.assertEqual(upstream.stderr().count("451 4.3.0"), 2, upstream.stderr())
            retries = relay.events("retry", id=identifier)
            self.assertGreaterEqual(len(retries), 2, relay.log_text())
            relay.wait_for_event("deliver", id=identifier)
            relay.wait_queue_empty()
            self.assertEqual(len(upstream.messages()), 1)
            self.assertEqual(relay.events("bounce"), [], "a temporary failure must not bounce")

    def test_upstream_450_on_rcpt_is_retried_for_that_recipient_only(self):
        with CaptureUpstream(rcpt=["later@example.org=450 4.2.1 Mailbox busy"], rcpt_times=1) as upstream, \
                Relay(upstream=upstream) as relay:
            with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
                refused = client.sendmail(SENDER, ["now@example.org", "later@example.org"],
                                          simple_message(subject="partial"))
                self.assertEqual(refused, {})
            wait_for(lambda: sorted(r for m in upstream.messages() for r in m.rcpt_tos)
                     == ["later@example.org", "now@example.org"], 20,
                     message="both recipients delivered, the deferred one on a retry")
            relay.wait_queue_empty()
            self.assertEqual(len(upstream.messages()), 2,
                             "the recipient already delivered was sent again on the retry")


    def test_an_upstream_that_hangs_is_timed_out_and_the_message_retried(self):
        with CaptureUpstream(stall=30) as upstream, \
                Relay(upstream=upstream, config={"upstream": {"command_timeout": "1s",
                                                              "data_timeout": "1s"}}) as relay:
            started = time.monotonic()
            identifier = submit(relay.port, "patient@example.org", "hanging upstream")
            delivered = upstream.wait_for_messages(1, timeout=15)
            self.assertLess(time.monotonic() - started, 15)
            self.assertEqual(delivered[0].rcpt_tos, ["patient@example.org"])
            self.assertIn("stalls", upstream.stderr())
            retry = relay.wait_for_event("retry", id=identifier)[0]
            self.assertRegex(retry.get("reason", ""), r"^4\d\d ", retry)
            relay.wait_for_event("deliver", id=identifier)
            relay.wait_queue_empty()
            self.assertEqual(len(upstream.messages()), 1)


    def test_sigterm_with_a_delivery_hanging_upstream_exits_within_shutdown_timeout_and_keeps_the_message(self):
        with CaptureUpstream(stall=60) as upstream, \
                Relay(upstream=upstream, config={"server": {"shutdown_timeout": "2s"}}) as relay:
            identifier = submit(relay.port, "kept@example.org", "kept over restart")
            wait_for(lambda: "stalls" in upstream.stderr(), 10, message="the delivery to hang")
            started = time.monotonic()
            relay.stop(timeout=15)
            self.assertLess(time.monotonic() - started, 8, "shutdown waited for the hanging upstream")
            self.assertEqual(relay.queued_ids(), [identifier])
            relay.start()  # the capture stalls only once
            delivered = upstream.wait_for_messages(1, timeout=15)
            self.assertEqual(delivered[0].rcpt_tos, ["kept@example.org"])
            relay.wait_queue_empty()


if __name__ == "__main__":
    unittest.main()
