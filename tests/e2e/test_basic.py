"""A message goes in through the relay and comes out at the upstream, unchanged but for one
Received header; the log tells the story of each transaction."""

import os
import random
import smtplib
import subprocess
import unittest

from harness import (SENDER, CaptureUpstream, RawClient, Relay, count_header, queued_id,
                     simple_message, split_received, wait_for)

SWAKS_MESSAGE = (b"From: <sender@edomex.gob.mx>\n"
                 b"To: <rcpt@example.org>\n"
                 b"Subject: swaks basic\n"
                 b"Message-ID: <swaks.basic@client.test>\n"
                 b"\n"
                 b"line one\n"
                 b".leading dot\n"
                 b"..two dots\n"
                 b"\n"
                 b"last line\n")


def swaks(port, message_path, recipients="rcpt@example.org"):
    result = subprocess.run(
        ["swaks", "--server", "127.0.0.1", "--port", str(port), "--from", SENDER, "--to", recipients,
         "--data", message_path, "--timeout", "20"],
        capture_output=True, timeout=60)
    return result.returncode, result.stdout.decode("utf-8", "replace")


def swaks_data_reply(transcript):
    """The server's reply to the end of DATA in a swaks transcript ("<-  250 ..." after " -> .")."""
    lines = transcript.splitlines()
    for index, line in enumerate(lines):
        if line.strip() == "-> ." and index + 1 < len(lines):
            return lines[index + 1][3:].strip()
    return None


class BasicRelayTest(unittest.TestCase):
    def setUp(self):
        self.upstream = CaptureUpstream()
        self.addCleanup(self.upstream.__exit__, None, None, None)

    def test_swaks_message_is_queued_and_delivered_with_one_added_received_header(self):
        message_path = os.path.join(self.upstream.temp_dir, "swaks-message.txt")
        with open(message_path, "wb") as file:
            file.write(SWAKS_MESSAGE)
        # What swaks puts on the wire for this file, measured against the capture upstream itself.
        code, transcript = swaks(self.upstream.port, message_path)
        self.assertEqual(code, 0, transcript)
        submitted = self.upstream.wait_for_messages(1)[0].data

        with Relay(upstream=self.upstream) as relay:
            code, transcript = swaks(relay.port, message_path)
            self.assertEqual(code, 0, transcript)
            reply = swaks_data_reply(transcript)
            self.assertRegex(reply or "", r"^250 2\.0\.0 Ok: queued as \S+$", transcript)
            message_id = queued_id(reply)

            delivered = self.upstream.wait_for_messages(2)[1]
            self.assertEqual(delivered.mail_from, SENDER)
            self.assertEqual(delivered.rcpt_tos, ["rcpt@example.org"])
            received, rest = split_received(delivered.data)
            self.assertTrue(received.startswith(b"Received: from "), delivered.data[:300])
            self.assertIn(b"by relay.test", received)
            self.assertIn(b" id " + message_id.encode(), received, "the Received header names the queue id")
            self.assertEqual(rest, submitted, "the relay changed the message beyond its Received header")
            self.assertEqual(count_header(delivered.data, "Received"), count_header(submitted, "Received") + 1)

            accept = relay.wait_for_event("accept", id=message_id)[0]
            self.assertEqual(accept.get("from"), SENDER)
            self.assertEqual(accept.get("rcpts"), "1")
            deliver = relay.wait_for_event("deliver", id=message_id)[0]
            self.assertTrue(deliver.get("upstream_reply", "").startswith("250"), deliver)
            # connect, accept and disconnect of this session share its session number.
            connect = relay.events("connect")
            self.assertEqual(len(connect), 1, connect)
            session = connect[0].get("session")
            self.assertTrue(session, connect)
            self.assertEqual(accept.get("session"), session, (connect, accept))
            disconnect = relay.wait_for_event("disconnect", session=session)[0]
            self.assertEqual(disconnect.get("messages"), "1", disconnect)
            self.assertEqual(relay.queued_ids(), [], "a delivered message stayed in the spool")

    def test_smtplib_message_to_three_recipients_reaches_each_exactly_once(self):
        recipients = ["one@example.org", "two@example.net", "three@example.com"]
        message = simple_message(subject="three recipients", to="one@example.org")
        with Relay(upstream=self.upstream) as relay:
            with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
                client.ehlo("client.test")
                code, text = client.mail(SENDER)
                self.assertEqual(code, 250)
                for recipient in recipients:
                    self.assertEqual(client.rcpt(recipient)[0], 250)
                code, text = client.data(message)
                self.assertEqual(code, 250, text)
                self.assertIsNotNone(queued_id(text), text)

            def all_recipients_delivered():
                got = [r for m in self.upstream.messages() for r in m.rcpt_tos]
                return got if sorted(got) == sorted(recipients) else None

            wait_for(all_recipients_delivered, 15, message="all three recipients delivered")
            for captured in self.upstream.messages():
                self.assertEqual(captured.mail_from, SENDER)
                self.assertEqual(split_received(captured.data)[1], message)
            accept = relay.wait_for_event("accept", id=queued_id(text))[0]
            self.assertEqual(accept.get("rcpts"), "3")
            # size= counts the message as received (the relay may include its Received header).
            self.assertGreaterEqual(int(accept.get("size", "-1")), len(message), accept)

    def test_two_transactions_on_one_connection_are_both_delivered(self):
        with Relay(upstream=self.upstream) as relay:
            with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
                first = client.sendmail(SENDER, ["a@example.org"], simple_message(subject="first"))
                second = client.sendmail(SENDER, ["b@example.org"], simple_message(subject="second"))
                self.assertEqual(first, {})
                self.assertEqual(second, {})
            captured = self.upstream.wait_for_messages(2)
            self.assertEqual(sorted(m.rcpt_tos[0] for m in captured), ["a@example.org", "b@example.org"])
            ids = [e["id"] for e in relay.events("accept")]
            self.assertEqual(len(set(ids)), 2, "each transaction gets its own queue id")

    def test_large_message_of_dotted_lines_is_delivered_byte_exact(self):
        # Every line starts with "." and line lengths vary, so dot-stuffing and CRLF pairs meet
        # every buffer and chunk boundary on both the receiving and the sending side.
        generator = random.Random(5321)
        lines = []
        size = 0
        while size < 3 * 1024 * 1024:
            line = b"." + bytes(generator.choice(b".abc xyz") for _ in range(generator.randrange(0, 300)))
            lines.append(line)
            size += len(line) + 2
        message = simple_message(subject="large dotted", body=b"\r\n".join(lines) + b"\r\n")
        with Relay(upstream=self.upstream) as relay:
            with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
                refused = client.sendmail(SENDER, ["large@example.org"], message)  # smtplib dot-stuffs
                self.assertEqual(refused, {})
            delivered = self.upstream.wait_for_messages(1, timeout=30)[0]
            self.assertEqual(len(split_received(delivered.data)[1]), len(message))
            self.assertTrue(split_received(delivered.data)[1] == message, "the large message was altered")
            relay.wait_queue_empty()

    def test_1000_pipelined_recipients_are_accepted_and_the_1001st_gets_452_4_5_3(self):
        recipients = [f"r{n}@example.org" for n in range(1001)]
        limits = {"limits": {"max_recipients_per_message": 1000}}  # the policy's 500 in test_limits
        with Relay(upstream=self.upstream, config=limits) as relay, RawClient(relay.port) as client:
            client.send("EHLO client.test\r\n" + f"MAIL FROM:<{SENDER}>\r\n"
                        + "".join(f"RCPT TO:<{r}>\r\n" for r in recipients))
            self.assertEqual(client.reply()[0], 250)
            self.assertTrue(client.reply_line().startswith("250"))
            replies = [client.reply_line() for _ in recipients]
            self.assertEqual([r[:3] for r in replies[:1000]], ["250"] * 1000)
            self.assertRegex(replies[1000], r"^452 4\.5\.3 ")
            self.assertTrue(client.command("DATA").startswith("354"))
            client.send(simple_message(subject="thousand") + b".\r\n")
            self.assertRegex(client.reply_line(), r"^250 2\.0\.0 Ok: queued as ")
            wait_for(lambda: sorted(r for m in self.upstream.messages() for r in m.rcpt_tos) == sorted(recipients[:1000]),
                     30, message="1000 recipients delivered")
            relay.wait_queue_empty()


class DirectoryModeTest(unittest.TestCase):
    def test_directory_mode_writes_the_message_and_its_envelope(self):
        message = simple_message(subject="directory mode", body=b"Body line.\r\n.dot\r\n")
        recipients = ["x@example.org", "y@example.org"]
        with Relay(mode="directory") as relay:
            with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
                client.ehlo("client.test")
                client.mail(SENDER)
                for recipient in recipients:
                    client.rcpt(recipient)
                code, text = client.data(message)
            self.assertEqual(code, 250, text)
            message_id = queued_id(text)
            self.assertIsNotNone(message_id, text)
            envelope, delivered = wait_for(lambda: relay.delivered_files(message_id), 15,
                                           message=f"{message_id}.eml in {relay.delivered_directory}")
            self.assertEqual(envelope["id"], message_id)
            self.assertEqual(envelope["sender"], SENDER)
            self.assertEqual(envelope["recipients"], recipients)
            self.assertIsInstance(envelope["received_at"], int)
            received, rest = split_received(delivered)
            self.assertTrue(received.startswith(b"Received: "), delivered[:200])
            self.assertEqual(rest, message)
            leftovers = [n for n in os.listdir(relay.delivered_directory)
                         if not n.endswith((".eml", ".envelope.json"))]
            self.assertEqual(leftovers, [], "temporary files left in the delivery directory")
            relay.wait_for_event("deliver", id=message_id)
            relay.wait_queue_empty()


if __name__ == "__main__":
    unittest.main()
