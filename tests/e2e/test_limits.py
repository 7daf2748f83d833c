"""The policy's limits on the wire (POLICY VI.1, VI.3, VI.4): message size, recipients per
message, messages per minute (defer / reject, and the queue-mode backlog), recipients per day
across a restart and a kill -9, and authorised senders ([[exceptions]]).

Windows are the real 60 s and 24 h: the tests use small limits instead of short windows, and
every assertion is on the client's replies, the relay's log and what the capture upstream got."""

import re
import unittest

from harness import (SENDER, CaptureUpstream, RawClient, Relay, dot_stuff, send_canary,
                     simple_message, queued_id)

MAX_MESSAGE_SIZE = 10000
UTC_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"


def message_of(octets, subject):
    """A message of exactly `octets` octets (CRLF line ends), as the relay counts it."""
    head = simple_message(subject=subject, body=b"")
    body = b""
    while len(head) + len(body) + 2 <= octets:
        line = min(octets - len(head) - len(body) - 2, 70)
        body += b"x" * line + b"\r\n"
    assert len(head) + len(body) == octets, (len(head), len(body), octets)
    return head + body


class LimitsTest(unittest.TestCase):
    """One relay with the policy's default recipient limit and a small size limit."""

    @classmethod
    def setUpClass(cls):
        cls.upstream = CaptureUpstream()
        cls.relay = Relay(upstream=cls.upstream, config={
            "limits": {"max_message_size": MAX_MESSAGE_SIZE, "max_recipients_per_message": 500},
        })

    @classmethod
    def tearDownClass(cls):
        cls.relay.__exit__(None, None, None)
        cls.upstream.__exit__(None, None, None)

    def client(self):
        client = RawClient(self.relay.port)
        self.addCleanup(client.close)
        self.assertTrue(client.command("EHLO client.test").startswith("250"))
        return client

    def delivered_to(self, recipient):
        return [m for m in self.upstream.messages() if recipient in m.rcpt_tos]

    def test_size_over_the_limit_is_refused_at_mail_and_nothing_is_delivered(self):
        client = self.client()
        reply = client.command(f"MAIL FROM:<{SENDER}> SIZE={MAX_MESSAGE_SIZE + 1}")
        self.assertEqual(reply, f"552 5.3.4 Message size exceeds fixed limit of {MAX_MESSAGE_SIZE} bytes")
        event = self.relay.wait_for_event("reject", rule="max_message_size")[-1]
        self.assertEqual((event["clause"], event["code"], event["from"]), ("VI.1", "552", SENDER))
        self.assertTrue(client.command(f"MAIL FROM:<{SENDER}> SIZE={MAX_MESSAGE_SIZE}").startswith("250"))
        self.assertTrue(client.command("RSET").startswith("250"))

    def test_oversized_data_is_read_to_its_end_refused_and_not_delivered(self):
        client = self.client()
        self.assertEqual(client.transaction(SENDER, ["exact-size@example.org"],
                                            message_of(MAX_MESSAGE_SIZE, "exact"))[:3], "250")
        final = client.transaction(SENDER, ["over-size@example.org"],
                                   message_of(MAX_MESSAGE_SIZE + 1, "one over"))
        self.assertEqual(final, f"552 5.3.4 Message size exceeds fixed limit of {MAX_MESSAGE_SIZE} bytes")
        # The session goes on after the refusal.
        self.assertEqual(client.transaction(SENDER, ["after@example.org"], simple_message())[:3], "250")
        send_canary(self.relay, self.upstream, "after oversized")
        self.assertEqual(self.delivered_to("over-size@example.org"), [])
        self.assertEqual(len(self.delivered_to("exact-size@example.org")), 1)
        self.assertEqual(len(self.delivered_to("after@example.org")), 1)

    def test_501st_recipient_gets_452_and_the_message_goes_to_the_first_500(self):
        recipients = [f"many{n}@example.org" for n in range(501)]
        client = self.client()
        client.send(f"MAIL FROM:<{SENDER}>\r\n" + "".join(f"RCPT TO:<{r}>\r\n" for r in recipients))
        self.assertTrue(client.reply_line().startswith("250"))
        replies = [client.reply_line() for _ in recipients]
        self.assertEqual([r[:3] for r in replies[:500]], ["250"] * 500)
        self.assertEqual(replies[500], "452 4.5.3 Too many recipients: at most 500 per message")
        self.assertTrue(client.command("DATA").startswith("354"))
        client.send(dot_stuff(simple_message(subject="five hundred")) + b".\r\n")
        queued = queued_id(client.reply_line())
        self.assertIsNotNone(queued)
        delivered = self.upstream.wait_for_messages(1, timeout=30,
                                                    where=lambda m: "many0@example.org" in m.rcpt_tos)
        self.assertEqual(sorted(delivered[0].rcpt_tos), sorted(recipients[:500]))
        event = self.relay.wait_for_event("defer", rule="max_recipients_per_message")[-1]
        self.assertEqual((event["clause"], event["code"]), ("VI.3", "452"))
        self.assertEqual(self.relay.wait_for_event("accept", id=queued)[0]["rcpts"], "500")


class SenderAddressTest(unittest.TestCase):
    """POLICY I.1, in Spanish ([messages] language = "es")."""

    def test_senders_outside_the_policy_are_refused_with_550_5_7_1(self):
        with CaptureUpstream() as upstream, \
                Relay(upstream=upstream, config={"messages": {"language": "es"}}) as relay, \
                RawClient(relay.port) as client:
            self.assertTrue(client.command("EHLO client.test").startswith("250"))
            cases = {
                "": "550 5.7.1 No se acepta el remitente vacio de los clientes",
                "someone@gmail.com": "550 5.7.1 Direccion de remitente no permitida: el dominio debe ser edomex.gob.mx",
                "a" * 21 + "@edomex.gob.mx": "550 5.7.1 Direccion de remitente no permitida: el nombre antes de @ "
                                              "tiene mas de 20 caracteres",
            }
            for sender, expected in cases.items():
                self.assertEqual(client.command(f"MAIL FROM:<{sender}>"), expected, sender)
            self.assertTrue(client.command(f"MAIL FROM:<{'a' * 20}@EDOMEX.gob.mx>").startswith("250"))
            events = relay.wait_for_event("reject", count=3, rule="sender_address")
            self.assertEqual({e["clause"] for e in events}, {"I.1"})
            self.assertEqual({e["code"] for e in events}, {"550"})

    def test_the_chain_switched_off_lets_any_sender_through(self):
        with CaptureUpstream() as upstream, \
                Relay(upstream=upstream, config={"limits": {"enabled": False}}) as relay, \
                RawClient(relay.port) as client:
            final = client.transaction("", ["null@example.org"], simple_message(subject="null sender"))
            self.assertRegex(final, r"^250 2\.0\.0 Ok: queued as ")
            delivered = upstream.wait_for_messages(1, where=lambda m: "null@example.org" in m.rcpt_tos)
            self.assertEqual(delivered[0].mail_from, "")


class MessageRateTest(unittest.TestCase):
    """POLICY VI.4 messages per minute, rate_action defer and reject."""

    def send_messages(self, relay, count, sender=SENDER):
        replies = []
        with RawClient(relay.port) as client:
            self.assertTrue(client.command("EHLO client.test").startswith("250"))
            for n in range(count):
                reply = client.command(f"MAIL FROM:<{sender}>")
                if not reply.startswith("250"):
                    replies.append(reply)
                    continue
                self.assertTrue(client.command(f"RCPT TO:<rate{n}@example.org>").startswith("250"))
                self.assertTrue(client.command("DATA").startswith("354"))
                client.send(dot_stuff(simple_message(subject=f"rate {n}")) + b".\r\n")
                replies.append(client.reply_line())
        return replies

    def test_defer_mode_gives_the_fourth_message_in_a_minute_451_4_7_1(self):
        config = {"limits": {"rate_action": "defer", "messages_per_minute": 3}}
        with CaptureUpstream() as upstream, Relay(upstream=upstream, config=config) as relay:
            replies = self.send_messages(relay, 4)
            self.assertEqual([r[:3] for r in replies[:3]], ["250"] * 3)
            self.assertRegex(replies[3], r"^451 4\.7\.1 Too many messages: at most 3 per minute; "
                                         rf"try again after {UTC_TIME}$")
            event = relay.wait_for_event("defer", rule="messages_per_minute")[0]
            self.assertEqual((event["clause"], event["code"]), ("VI.4", "451"))
            # Another sender is not held back.
            self.assertEqual(self.send_messages(relay, 1, sender="otro@edomex.gob.mx")[0][:3], "250")
            upstream.wait_for_messages(4)

    def test_reject_mode_gives_the_second_message_550_5_7_1(self):
        config = {"limits": {"rate_action": "reject", "messages_per_minute": 1}}
        with CaptureUpstream() as upstream, Relay(upstream=upstream, config=config) as relay:
            replies = self.send_messages(relay, 2)
            self.assertEqual(replies[0][:3], "250")
            self.assertRegex(replies[1], r"^550 5\.7\.1 Too many messages: at most 1 per minute")
            self.assertEqual(relay.wait_for_event("reject", rule="messages_per_minute")[0]["code"], "550")

    def test_queue_mode_refuses_mail_once_the_backlog_is_full(self):
        # One release per minute: after the first message, the next ones wait in the spool.
        config = {"limits": {"rate_action": "queue", "messages_per_minute": 1,
                             "queue_backlog_per_sender": 2}}
        with CaptureUpstream() as upstream, Relay(upstream=upstream, config=config) as relay:
            self.assertEqual(self.send_messages(relay, 1)[0][:3], "250")
            upstream.wait_for_messages(1)
            replies = self.send_messages(relay, 3)
            self.assertEqual([r[:3] for r in replies[:2]], ["250", "250"])
            self.assertEqual(replies[2], "451 4.7.1 Too many messages from this sender waiting for "
                                         "delivery (at most 2); try again later")
            self.assertEqual(len(upstream.messages()), 1)


class DailyQuotaTest(unittest.TestCase):
    """POLICY VI.4 recipients per day: counted per recipient, durable across restarts."""

    QUOTA = 5

    def relay_config(self, **limits):
        return {"limits": {"recipients_per_day": self.QUOTA, **limits}}

    def send(self, relay, recipients, subject):
        """One transaction; returns (the RCPT replies, the final reply or None)."""
        with RawClient(relay.port) as client:
            self.assertTrue(client.command("EHLO client.test").startswith("250"))
            self.assertTrue(client.command(f"MAIL FROM:<{SENDER}>").startswith("250"))
            replies = [client.command(f"RCPT TO:<{r}>") for r in recipients]
            if not any(r.startswith("250") for r in replies):
                return replies, None
            self.assertTrue(client.command("DATA").startswith("354"))
            client.send(dot_stuff(simple_message(subject=subject)) + b".\r\n")
            return replies, client.reply_line()

    def assert_quota_spent(self, relay):
        replies, final = self.send(relay, ["over@example.org"], "over quota")
        self.assertIsNone(final)
        self.assertRegex(replies[0], rf"^451 4\.7\.1 Daily quota of {self.QUOTA} recipients reached; "
                                     rf"enough quota frees at {UTC_TIME}$")

    def test_the_sixth_recipient_of_the_day_is_deferred_and_warnings_are_logged(self):
        with CaptureUpstream() as upstream, Relay(upstream=upstream, config=self.relay_config()) as relay:
            replies, final = self.send(relay, [f"d{n}@example.org" for n in range(3)], "three")
            self.assertEqual([r[:3] for r in replies], ["250"] * 3)
            self.assertEqual(final[:3], "250")
            replies, final = self.send(relay, [f"e{n}@example.org" for n in range(3)], "three more")
            self.assertEqual([r[:3] for r in replies], ["250", "250", "451"])
            self.assertEqual(final[:3], "250")
            self.assertRegex(replies[2], r"^451 4\.7\.1 Daily quota of 5 recipients reached")
            self.assert_quota_spent(relay)
            event = relay.wait_for_event("defer", rule="recipients_per_day")[0]
            self.assertEqual((event["clause"], event["code"]), ("VI.4", "451"))
            warnings = relay.wait_for_event("quota_warning", count=2)
            self.assertEqual([(w["percent"], w["used"], w["limit"]) for w in warnings],
                             [("80", "4", "5"), ("95", "5", "5")])
            upstream.wait_for_messages(2)

    def test_reject_mode_answers_550_5_7_1(self):
        config = self.relay_config(daily_action="reject")
        with CaptureUpstream() as upstream, Relay(upstream=upstream, config=config) as relay:
            replies, _ = self.send(relay, [f"r{n}@example.org" for n in range(6)], "six")
            self.assertRegex(replies[5], r"^550 5\.7\.1 Daily quota of 5 recipients reached")

    def test_rset_gives_the_reserved_recipients_back(self):
        with CaptureUpstream() as upstream, Relay(upstream=upstream, config=self.relay_config()) as relay:
            with RawClient(relay.port) as client:
                self.assertTrue(client.command("EHLO client.test").startswith("250"))
                self.assertTrue(client.command(f"MAIL FROM:<{SENDER}>").startswith("250"))
                for n in range(self.QUOTA):
                    self.assertTrue(client.command(f"RCPT TO:<held{n}@example.org>").startswith("250"))
                # Held by the open transaction: another session of the sender cannot have them.
                replies, _ = self.send(relay, ["racer@example.org"], "racer")
                self.assertEqual(replies[0][:3], "451")
                self.assertTrue(client.command("RSET").startswith("250"))
            replies, final = self.send(relay, [f"after{n}@example.org" for n in range(self.QUOTA)], "after rset")
            self.assertEqual([r[:3] for r in replies], ["250"] * self.QUOTA)
            self.assertEqual(final[:3], "250")

    def test_the_quota_holds_across_a_restart(self):
        with CaptureUpstream() as upstream, Relay(upstream=upstream, config=self.relay_config()) as relay:
            replies, final = self.send(relay, [f"s{n}@example.org" for n in range(self.QUOTA)], "spend")
            self.assertEqual(final[:3], "250")
            relay.restart()
            self.assert_quota_spent(relay)

    def test_the_quota_holds_across_kill_9(self):
        with CaptureUpstream() as upstream, Relay(upstream=upstream, config=self.relay_config()) as relay:
            replies, final = self.send(relay, [f"k{n}@example.org" for n in range(self.QUOTA - 1)], "spend")
            self.assertEqual(final[:3], "250")
            replies, final = self.send(relay, ["last@example.org"], "last unit")
            self.assertEqual(final[:3], "250")
            relay.kill()  # right after the 250: the count must already be durable
            relay.start()
            self.assert_quota_spent(relay)


class ExceptionTest(unittest.TestCase):
    """[[exceptions]]: an authorised sender passes limits that stop the others, and the
    authorisation is logged with the decisions it changed (POLICY VI.3)."""

    REFERENCE = "DGSEI/DGE 123/2026"

    def test_an_authorised_sender_passes_and_its_reference_is_logged(self):
        config = {
            "limits": {"max_recipients_per_message": 3, "recipients_per_day": 4},
            "exceptions": [{"sender": "comunicacion@edomex.gob.mx", "reference": self.REFERENCE,
                            "max_recipients_per_message": 6, "recipients_per_day": 100}],
        }
        recipients = [f"x{n}@example.org" for n in range(6)]
        with CaptureUpstream() as upstream, Relay(upstream=upstream, config=config) as relay, \
                RawClient(relay.port) as client:
            final = client.transaction("Comunicacion@edomex.gob.mx", recipients, simple_message(subject="bulk"))
            queued = queued_id(final)
            self.assertIsNotNone(queued, final)
            delivered = upstream.wait_for_messages(1, where=lambda m: "x0@example.org" in m.rcpt_tos)
            self.assertEqual(sorted(delivered[0].rcpt_tos), sorted(recipients))
            accept = relay.wait_for_event("accept", id=queued)[0]
            self.assertEqual(accept.get("reference"), self.REFERENCE)
            self.assertEqual(accept.get("exception_rules"), "max_recipients_per_message,recipients_per_day")

            # Anyone else stops at the [limits] values; their refusals carry no reference.
            self.assertTrue(client.command("EHLO client.test").startswith("250"))
            self.assertTrue(client.command(f"MAIL FROM:<{SENDER}>").startswith("250"))
            replies = [client.command(f"RCPT TO:<{r}>") for r in recipients[:4]]
            self.assertEqual([r[:3] for r in replies], ["250", "250", "250", "452"])
            event = relay.wait_for_event("defer", rule="max_recipients_per_message")[0]
            self.assertNotIn("reference", event)

            # The exception's own limit, when reached, is logged with its reference.
            self.assertTrue(client.command("RSET").startswith("250"))
            self.assertTrue(client.command("MAIL FROM:<comunicacion@edomex.gob.mx>").startswith("250"))
            replies = [client.command(f"RCPT TO:<y{n}@example.org>") for n in range(7)]
            self.assertEqual(replies[6], "452 4.5.3 Too many recipients: at most 6 per message")
            event = relay.wait_for_event("defer", rule="max_recipients_per_message", code=452, count=2)[-1]
            self.assertEqual(event.get("reference"), self.REFERENCE)


if __name__ == "__main__":
    unittest.main()
