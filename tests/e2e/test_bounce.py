"""Permanent upstream refusals: the other recipients are delivered, the sender gets one DSN
(RFC 3464) from the null sender, and a DSN is never bounced itself."""

import email
import email.policy
import smtplib
import unittest

from harness import SENDER, CaptureUpstream, Relay, queued_id, send_canary, simple_message, wait_for


def dsn_parts(message_bytes):
    """(the parsed message, its message/delivery-status text) of a DSN."""
    parsed = email.message_from_bytes(message_bytes, policy=email.policy.compat32)
    status = ""
    for part in parsed.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            if isinstance(payload, list):  # compat32 parses the status groups as messages
                status = "\n\n".join(str(group) for group in payload)
            else:
                status = str(payload)
    return parsed, status


class BounceTest(unittest.TestCase):
    def test_one_refused_recipient_of_three_gets_a_dsn_and_the_others_are_delivered(self):
        with CaptureUpstream(rcpt=["*@gone.example=550 5.1.1 No such user here"]) as upstream, \
                Relay(upstream=upstream) as relay:
            message = simple_message(subject="three, one gone", to="a@example.org")
            with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
                client.ehlo("client.test")
                self.assertEqual(client.mail(SENDER)[0], 250)
                for recipient in ("a@example.org", "b@gone.example", "c@example.org"):
                    self.assertEqual(client.rcpt(recipient)[0], 250, "the relay accepts; the upstream refuses")
                code, text = client.data(message)
                self.assertEqual(code, 250, text)
                original_id = queued_id(text)

            def delivered_and_dsn():
                messages = upstream.messages()
                normal = [m for m in messages if m.mail_from == SENDER]
                dsns = [m for m in messages if m.mail_from == ""]
                got = sorted(r for m in normal for r in m.rcpt_tos)
                return (normal, dsns) if got == ["a@example.org", "c@example.org"] and dsns else None

            normal, dsns = wait_for(delivered_and_dsn, 20, message="two deliveries and a DSN")
            self.assertEqual(len(dsns), 1, dsns)
            dsn = dsns[0]
            self.assertEqual(dsn.rcpt_tos, [SENDER])
            parsed, status = dsn_parts(dsn.data)
            self.assertEqual(parsed.get_content_type(), "multipart/report")
            self.assertEqual(parsed.get_param("report-type"), "delivery-status")
            self.assertIn("b@gone.example", status)
            self.assertRegex(status, r"(?i)Action:\s*failed")
            self.assertRegex(status, r"Status:\s*5\.1\.1")
            self.assertRegex(status, r"(?i)Final-Recipient:\s*rfc822;\s*b@gone\.example")
            self.assertNotIn("a@example.org", status, "only the failed recipient is reported")
            self.assertNotIn("c@example.org", status)
            self.assertRegex(parsed.get("Auto-Submitted", ""), r"auto-replied|auto-generated")
            bounce = relay.wait_for_event("bounce", id=original_id)[0]
            self.assertEqual(bounce.get("rcpt"), "b@gone.example")
            relay.wait_queue_empty()
            for captured in normal:
                self.assertNotIn("b@gone.example", captured.rcpt_tos)

    def test_a_dsn_that_cannot_be_delivered_is_not_bounced_again(self):
        loop_sender = "bouncer@edomex.gob.mx"
        with CaptureUpstream(rcpt=["*@gone.example=550 5.1.1 No such user here",
                                   f"{loop_sender}=550 5.1.1 Sender mailbox gone too"]) as upstream, \
                Relay(upstream=upstream) as relay:
            with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
                refused = client.sendmail(loop_sender, ["x@gone.example"], simple_message(sender=loop_sender))
                self.assertEqual(refused, {})
            relay.wait_for_event("dsn", timeout=15)
            # The DSN itself is refused: it must end there (no DSN of the DSN, no retry loop).
            wait_for(lambda: len(relay.events("bounce")) >= 2, 15, message="the DSN's own refusal logged")
            send_canary(relay, upstream, "after double bounce")
            self.assertEqual([m for m in upstream.messages() if m.mail_from == ""], [])
            self.assertEqual(len(relay.events("dsn")), 1, relay.events("dsn"))


    def test_upstream_5xx_after_data_bounces_every_recipient_in_one_dsn(self):
        with CaptureUpstream(data=["*@strict.example=554 5.7.1 Content rejected"]) as upstream, \
                Relay(upstream=upstream) as relay:
            with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
                refused = client.sendmail(SENDER, ["x@strict.example", "y@strict.example"],
                                          simple_message(subject="content refused"))
                self.assertEqual(refused, {})
            dsn = upstream.wait_for_messages(1, where=lambda m: m.mail_from == "")[0]
            self.assertEqual(dsn.rcpt_tos, [SENDER])
            _, status = dsn_parts(dsn.data)
            self.assertRegex(status, r"(?i)Final-Recipient:\s*rfc822;\s*x@strict\.example")
            self.assertRegex(status, r"(?i)Final-Recipient:\s*rfc822;\s*y@strict\.example")
            self.assertRegex(status, r"Status:\s*5\.7\.1")
            relay.wait_queue_empty()
            self.assertEqual([m for m in upstream.messages() if m.mail_from == SENDER], [])
            self.assertEqual(len([m for m in upstream.messages() if m.mail_from == ""]), 1)

    def test_a_recipient_deferred_past_max_age_is_bounced_as_expired(self):
        with CaptureUpstream(rcpt=["*@busy.example=450 4.2.1 Mailbox busy, try later"]) as upstream, \
                Relay(upstream=upstream, config={"spool": {"max_age": "3s"}}) as relay:
            with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
                refused = client.sendmail(SENDER, ["ok@example.org", "slow@busy.example"],
                                          simple_message(subject="expires"))
                self.assertEqual(refused, {})
            dsn = upstream.wait_for_messages(1, timeout=20, where=lambda m: m.mail_from == "")[0]
            self.assertEqual(dsn.rcpt_tos, [SENDER])
            _, status = dsn_parts(dsn.data)
            self.assertRegex(status, r"(?i)Final-Recipient:\s*rfc822;\s*slow@busy\.example")
            self.assertRegex(status, r"(?i)Action:\s*failed")
            self.assertRegex(status, r"Status:\s*4\.2\.1|Status:\s*4\.4\.7", "the last temporary reason or 4.4.7")
            self.assertNotIn("ok@example.org", status)
            bounce = relay.wait_for_event("bounce", rcpt="slow@busy.example")[0]
            self.assertEqual(bounce.get("expired"), "true")
            relay.wait_queue_empty()
            delivered = [r for m in upstream.messages() if m.mail_from == SENDER for r in m.rcpt_tos]
            self.assertEqual(delivered, ["ok@example.org"], "the delivered recipient was sent again")


if __name__ == "__main__":
    unittest.main()
