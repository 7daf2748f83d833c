"""8-bit bodies (RFC 6152) and internationalised addresses (RFC 6531) pass through byte-exact,
with their ESMTP parameters carried to the upstream; UTF-8 without SMTPUTF8 is refused."""

import smtplib
import unittest

from harness import SENDER, CaptureUpstream, RawClient, Relay, queued_id, split_received

UTF8_SENDER = "josé.niño@edomex.gob.mx"
UTF8_RECIPIENT = "ñandú@例え.jp"


class EightBitAndUtf8Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.upstream = CaptureUpstream()
        cls.relay = Relay(upstream=cls.upstream)

    @classmethod
    def tearDownClass(cls):
        cls.relay.__exit__(None, None, None)
        cls.upstream.__exit__(None, None, None)

    def test_8bit_body_with_body_8bitmime_is_delivered_byte_exact(self):
        message = ("From: <sender@edomex.gob.mx>\r\nTo: <eight@example.org>\r\n"
                   "Subject: =?UTF-8?Q?A=C3=B1o?=\r\nMIME-Version: 1.0\r\n"
                   "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                   "Año café, ñandú, 中文, emoji \U0001F600\r\n").encode("utf-8")
        message += b"latin-1 bytes: \xe9\xf1\xff\x80 and DEL \x7f\r\n"
        with smtplib.SMTP("127.0.0.1", self.relay.port, timeout=10) as client:
            client.ehlo("client.test")
            self.assertTrue(client.has_extn("8bitmime"))
            code, _ = client.mail(SENDER, ["BODY=8BITMIME"])
            self.assertEqual(code, 250)
            self.assertEqual(client.rcpt("eight@example.org")[0], 250)
            code, text = client.data(message)
            self.assertEqual(code, 250, text)
            self.assertIsNotNone(queued_id(text))
        delivered = self.upstream.wait_for_messages(1, where=lambda m: "eight@example.org" in m.rcpt_tos)[0]
        self.assertEqual(split_received(delivered.data)[1], message)
        self.assertIn("BODY=8BITMIME", delivered.envelope["mail_options"],
                      "the relay must pass BODY=8BITMIME on (RFC 6152 3)")

    def test_utf8_addresses_with_smtputf8_are_delivered_byte_exact(self):
        message = (f"From: <{UTF8_SENDER}>\r\nTo: <{UTF8_RECIPIENT}>\r\n"
                   "Subject: Ñandú 測試\r\nMIME-Version: 1.0\r\n"
                   "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                   "Cuerpo en UTF-8: ¿qué tal?\r\n").encode("utf-8")
        with smtplib.SMTP("127.0.0.1", self.relay.port, timeout=10) as client:
            client.ehlo("client.test")
            self.assertTrue(client.has_extn("smtputf8"))
            refused = client.sendmail(UTF8_SENDER, [UTF8_RECIPIENT, "plain@example.org"], message,
                                      mail_options=["SMTPUTF8", "BODY=8BITMIME"])
            self.assertEqual(refused, {})
        captured = self.upstream.wait_for_messages(1, where=lambda m: m.mail_from == UTF8_SENDER)
        recipients = sorted(r for m in captured for r in m.rcpt_tos)
        self.assertEqual(recipients, sorted([UTF8_RECIPIENT, "plain@example.org"]))
        for delivered in captured:
            self.assertIn("SMTPUTF8", delivered.envelope["mail_options"])
            self.assertEqual(split_received(delivered.data)[1], message)

    def test_utf8_address_without_smtputf8_is_553_5_6_7(self):
        with RawClient(self.relay.port) as client:
            self.assertTrue(client.command("EHLO client.test").startswith("250"))
            self.assertRegex(client.command(f"MAIL FROM:<{UTF8_SENDER}>"), r"^553 5\.6\.7 ")
            self.assertTrue(client.command(f"MAIL FROM:<{SENDER}>").startswith("250"))
            self.assertRegex(client.command(f"RCPT TO:<{UTF8_RECIPIENT}>"), r"^553 5\.6\.7 ")
            self.assertTrue(client.command("RSET").startswith("250"))
            # The same addresses are fine once the transaction asks for SMTPUTF8.
            self.assertTrue(client.command(f"MAIL FROM:<{UTF8_SENDER}> SMTPUTF8").startswith("250"))
            self.assertTrue(client.command(f"RCPT TO:<{UTF8_RECIPIENT}>").startswith("250"))
            self.assertTrue(client.command("RSET").startswith("250"))


if __name__ == "__main__":
    unittest.main()
