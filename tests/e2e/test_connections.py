"""Connection limits, idle timeouts and graceful shutdown (SIGTERM)."""

import os
import signal
import smtplib
import socket
import subprocess
import time
import unittest

from harness import (SENDER, CaptureUpstream, ClientPool, RawClient, Relay, delivered_tokens,
                     queued_id, simple_message, split_received, wait_for)

IDLE_CONNECTIONS = 200


class ConnectionLimitTest(unittest.TestCase):
    def setUp(self):
        self.upstream = CaptureUpstream()
        self.addCleanup(self.upstream.__exit__, None, None, None)

    def test_200_idle_connections_do_not_stop_a_new_client(self):
        with Relay(upstream=self.upstream, config={"server": {"max_connections": 400,
                                                              "max_connections_per_ip": 300}}) as relay:
            idle = []
            try:
                for _ in range(IDLE_CONNECTIONS):
                    idle.append(RawClient(relay.port, timeout=10))
                self.assertTrue(all(c.greeting[0] == 220 for c in idle), [c.greeting for c in idle][:3])
                started = time.monotonic()
                with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
                    refused = client.sendmail(SENDER, ["busy@example.org"], simple_message(subject="busy"))
                    self.assertEqual(refused, {})
                self.assertLess(time.monotonic() - started, 5, "the new client was slowed down by idle ones")
                self.upstream.wait_for_messages(1)
                # The idle sessions are still served, not starved.
                self.assertTrue(idle[0].command("NOOP").startswith("250"))
                self.assertTrue(idle[-1].command("NOOP").startswith("250"))
            finally:
                for client in idle:
                    client.close()
            wait_for(lambda: len(relay.events("disconnect")) >= IDLE_CONNECTIONS + 1, 15,
                     message="every idle session closed")

    def test_connection_over_max_connections_per_ip_gets_421(self):
        with Relay(upstream=self.upstream, config={"server": {"max_connections_per_ip": 3}}) as relay:
            allowed = [RawClient(relay.port) for _ in range(3)]
            try:
                self.assertEqual([c.greeting[0] for c in allowed], [220, 220, 220])
                with RawClient(relay.port) as extra:
                    self.assertEqual(extra.greeting[0], 421, extra.greeting)
                    self.assertTrue(extra.wait_closed(), "the refused connection stayed open")
                relay.wait_for_event("reject", rule="max_connections_per_ip")
                allowed[0].command("QUIT")
                allowed[0].close()

                def a_new_connection_is_greeted():
                    with RawClient(relay.port) as again:
                        return again.greeting[0] == 220

                wait_for(a_new_connection_is_greeted, 10, interval=0.2,
                         message="a connection accepted again once one closed")
            finally:
                for client in allowed:
                    client.close()

    def test_connection_over_max_connections_gets_421(self):
        with Relay(upstream=self.upstream, config={"server": {"max_connections": 2,
                                                              "max_connections_per_ip": 2}}) as relay:
            with RawClient(relay.port) as first, RawClient(relay.port) as second:
                self.assertEqual((first.greeting[0], second.greeting[0]), (220, 220))
                # From another loopback address, so that only the global limit applies.
                with RawClient(relay.port, source="127.0.0.2") as extra:
                    self.assertEqual(extra.greeting[0], 421, extra.greeting)
                    self.assertTrue(extra.wait_closed())
                relay.wait_for_event("reject", rule="max_connections")

    def test_idle_client_gets_421_4_4_2_after_the_command_timeout(self):
        with Relay(upstream=self.upstream, config={"server": {"command_timeout": "2s"}}) as relay:
            with RawClient(relay.port) as client:
                self.assertTrue(client.command("EHLO client.test").startswith("250"))
                self.assertTrue(client.command(f"MAIL FROM:<{SENDER}>").startswith("250"))
                started = time.monotonic()
                try:
                    reply = client.reply_line(timeout=10)
                except TimeoutError:
                    reply = "no reply within 10 s"
                waited = time.monotonic() - started
                self.assertRegex(reply or "", r"^421 4\.4\.2 ")
                self.assertGreater(waited, 1.5, "timed out before command_timeout")
                self.assertLess(waited, 6, "command_timeout not applied")
                self.assertTrue(client.wait_closed(), "the timed-out session stayed open")

    def test_client_stalled_in_data_gets_421_4_4_2_after_the_data_timeout(self):
        with Relay(upstream=self.upstream, config={"server": {"data_timeout": "2s"}}) as relay:
            with RawClient(relay.port) as client:
                self.assertTrue(client.command("EHLO client.test").startswith("250"))
                self.assertTrue(client.command(f"MAIL FROM:<{SENDER}>").startswith("250"))
                self.assertTrue(client.command("RCPT TO:<stalled@example.org>").startswith("250"))
                self.assertTrue(client.command("DATA").startswith("354"))
                client.send(simple_message(subject="stalled")[:60])
                started = time.monotonic()
                try:
                    reply = client.reply_line(timeout=10)
                except TimeoutError:
                    reply = "no reply within 10 s"
                waited = time.monotonic() - started
                self.assertRegex(reply or "", r"^421 4\.4\.2 ")
                self.assertGreater(waited, 1.5)
                self.assertLess(waited, 6)
                self.assertTrue(client.wait_closed())
            incoming = os.path.join(relay.spool_directory, "incoming")
            wait_for(lambda: not os.listdir(incoming), 10, message=f"an empty {incoming}")
            self.assertEqual(relay.queued_ids(), [])
            self.assertEqual(relay.events("accept"), [])


class ShutdownTest(unittest.TestCase):
    def setUp(self):
        self.upstream = CaptureUpstream()
        self.addCleanup(self.upstream.__exit__, None, None, None)

    def test_sigterm_sends_421_4_3_2_to_an_idle_session_and_exits_0(self):
        relay = Relay(upstream=self.upstream)
        with relay:
            client = RawClient(relay.port)
            self.addCleanup(client.close)
            self.assertTrue(client.command("EHLO client.test").startswith("250"))
            relay.process.send_signal(signal.SIGTERM)
            reply = client.reply_line(timeout=10)
            self.assertRegex(reply or "", r"^421 4\.3\.2 ")
            self.assertTrue(client.wait_closed())
            code = relay.process.wait(timeout=15)
            relay.process = None
            self.assertEqual(code, 0, relay.stderr())
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", relay.port), timeout=2).close()

    def test_sigterm_during_data_lets_the_transaction_finish_and_the_message_is_delivered(self):
        with Relay(upstream=self.upstream, config={"server": {"shutdown_timeout": "10s"}}) as relay:
            client = RawClient(relay.port)
            self.addCleanup(client.close)
            self.assertTrue(client.command("EHLO client.test").startswith("250"))
            self.assertTrue(client.command(f"MAIL FROM:<{SENDER}>").startswith("250"))
            self.assertTrue(client.command("RCPT TO:<inflight@example.org>").startswith("250"))
            self.assertTrue(client.command("DATA").startswith("354"))
            message = simple_message(subject="in flight", body=b"first half\r\n" * 50 + b"second half\r\n" * 50)
            half = len(message) // 2
            client.send(message[:half])
            relay.process.send_signal(signal.SIGTERM)
            # Give the relay the signal before the rest arrives (the wait ends early if it logs it).
            try:
                relay.wait_for_event("shutdown", timeout=2, phase="begin")
            except AssertionError:
                pass
            self.assertIsNone(relay.process.poll(), "the relay exited with a transaction in DATA")
            client.send(message[half:] + b".\r\n")
            final = client.reply_line(timeout=10)
            self.assertRegex(final or "", r"^250 2\.0\.0 Ok: queued as \S+$")
            message_id = queued_id(final)
            after = client.reply_line(timeout=10)
            self.assertTrue(after is None or after.startswith("421 4.3.2"), after)
            self.assertTrue(client.wait_closed())
            code = relay.process.wait(timeout=20)
            relay.process = None
            self.assertEqual(code, 0, relay.stderr())

            delivered = [m for m in self.upstream.messages() if "inflight@example.org" in m.rcpt_tos]
            if not delivered:
                self.assertIn(message_id, relay.queued_ids(), "the acknowledged message is neither delivered nor spooled")
                relay.start()
                delivered = self.upstream.wait_for_messages(
                    1, where=lambda m: "inflight@example.org" in m.rcpt_tos)
            self.assertEqual(split_received(delivered[0].data)[1], message)
            relay.wait_queue_empty()


    def test_sigterm_under_load_with_200_idle_sessions_exits_0_and_loses_no_acknowledged_message(self):
        with Relay(upstream=self.upstream, config={"server": {"max_connections": 400,
                                                              "max_connections_per_ip": 300}}) as relay:
            idle = [RawClient(relay.port) for _ in range(IDLE_CONNECTIONS)]
            self.addCleanup(lambda: [client.close() for client in idle])
            load = subprocess.Popen(
                ["smtp-source", "-s", "10", "-m", "3000", "-l", "5120", "-f", SENDER, "-t", "load@example.org",
                 f"127.0.0.1:{relay.port}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            self.addCleanup(lambda: load.poll() is None and load.kill())
            pool = ClientPool(relay.port)
            pool.start()
            wait_for(lambda: pool.count() >= 50, 30, message="50 acknowledged pool messages")
            started = time.monotonic()
            relay.stop(timeout=40)  # asserts exit status 0
            self.assertLess(time.monotonic() - started, 35)
            pool.stop.set()
            self.assertTrue(pool.join(15))
            load.communicate(timeout=15)
            replies = {client.reply_line(timeout=5) for client in idle}
            self.assertEqual({(r or "")[:9] for r in replies}, {"421 4.3.2"}, replies)
            acknowledged = dict(pool.acknowledged)
            relay.start()
            wait_for(lambda: all(t in delivered_tokens(self.upstream) for t in acknowledged), 60,
                     interval=0.5, message=f"{len(acknowledged)} acknowledged messages delivered after restart")
            relay.wait_queue_empty(timeout=60)


if __name__ == "__main__":
    unittest.main()
