"""Two policy-relayd behind HAProxy (TCP, send-proxy-v2), one Redis, one capture upstream
(issue 7 item 3): the limits hold in total across the relays, kill -9 of one relay loses no
acknowledged message, and a stopped Redis gets the configured fallback, then recovery."""

import smtplib
import threading
import unittest
from email.message import EmailMessage

from cluster_harness import HAProxy, RedisProcess, cluster_config
from harness import CaptureUpstream, Relay, queued_id, wait_for

SENDER = "clustered@edomex.gob.mx"


def message(token, recipients):
    mail = EmailMessage()
    mail["From"] = SENDER
    mail["To"] = ", ".join(recipients)
    mail["Subject"] = token
    mail.set_content(f"token {token}\n")
    return mail


def send(port, token, recipients=("to@example.org",)):
    """One message on its own connection (HAProxy balances connections). Returns
    ("accepted", refused_recipients) or ("refused", "CODE text") or ("error", text)."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.ehlo("client.test")
            refused = client.send_message(message(token, recipients), SENDER, list(recipients))
            return "accepted", refused
    except smtplib.SMTPRecipientsRefused as error:
        return "refused", " ".join(f"{code} {text.decode()}" for code, text in error.recipients.values())
    except smtplib.SMTPResponseException as error:
        return "refused", f"{error.smtp_code} {error.smtp_error.decode()}"
    except (OSError, smtplib.SMTPException) as error:
        return "error", repr(error)


class Cluster:
    def __init__(self, test, unavailable="defer", limits=None, extra=None):
        self.redis = test.enterContext(RedisProcess())
        self.upstream = test.enterContext(CaptureUpstream())
        config = {**cluster_config(self.redis, unavailable, limits), **(extra or {})}
        self.relays = [test.enterContext(Relay(upstream=self.upstream, config=config))
                       for _ in range(2)]
        self.proxy = test.enterContext(HAProxy([relay.port for relay in self.relays]))

    def accepts(self, relay):
        return [e for e in relay.events("accept") if e.get("from") == SENDER]


class LimitsAcrossRelaysTest(unittest.TestCase):
    def test_one_sender_spread_over_both_relays_gets_exactly_its_messages_per_window(self):
        # rate_window 1 h: the window cannot pass during a slow run (no timed assertions).
        cluster = Cluster(self, limits={"messages_per_minute": 5, "rate_action": "defer",
                                        "rate_window": "1h"})
        results = [send(cluster.proxy.port, f"seq-{i}") for i in range(4)]  # alternate relays
        self.assertEqual([r[0] for r in results], ["accepted"] * 4, results)
        outcomes = []
        threads = [threading.Thread(target=lambda i=i: outcomes.append(
            send(cluster.proxy.port, f"par-{i}"))) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        accepted = [o for o in outcomes if o[0] == "accepted"]
        refused = [o for o in outcomes if o[0] == "refused"]
        self.assertEqual(len(accepted), 1, outcomes)
        self.assertEqual(len(refused), 7, outcomes)
        for _, reply in refused:
            self.assertTrue(reply.startswith("451 4.7.1 Too many messages: at most 5 per minute"),
                            reply)
        delivered = cluster.upstream.wait_for_messages(5)
        self.assertEqual(len(cluster.upstream.messages()), 5)
        self.assertEqual({m.mail_from for m in delivered}, {SENDER})
        # Both relays took part, and each saw the client HAProxy reported (via= the proxy).
        for relay in cluster.relays:
            self.assertTrue(cluster.accepts(relay), relay.log_text())
            self.assertTrue([e for e in relay.events("connect") if e.get("via")], relay.log_text())
            self.assertFalse(relay.events("redis_unavailable"))

    def test_the_daily_quota_holds_in_total(self):
        cluster = Cluster(self, limits={"recipients_per_day": 7, "daily_action": "defer"})
        accepted = 0
        replies = []
        for i in range(4):
            recipients = [f"r{i}-{n}@example.org" for n in range(3)]
            kind, detail = send(cluster.proxy.port, f"day-{i}", recipients)
            replies.append((kind, detail))
            if kind == "accepted":
                accepted += 3 - len(detail)
        self.assertEqual(accepted, 7, replies)
        self.assertEqual([k for k, _ in replies], ["accepted", "accepted", "accepted", "refused"])
        refused_third = replies[2][1]
        self.assertEqual(len(refused_third), 2, replies)
        for code, text in refused_third.values():
            self.assertEqual(code, 451)
            self.assertTrue(text.startswith(b"4.7.1 Daily quota of 7 recipients reached"), text)
        wait_for(lambda: sum(len(m.rcpt_tos) for m in cluster.upstream.messages()) >= 7, 20,
                 message="7 recipients delivered")
        self.assertEqual(sum(len(m.rcpt_tos) for m in cluster.upstream.messages()), 7)
        for relay in cluster.relays:
            self.assertTrue(cluster.accepts(relay), relay.log_text())


class NoticesAcrossRelaysTest(unittest.TestCase):
    POSTMASTER = "avisos@edomex.gob.mx"

    def test_two_relays_send_one_advisory_notice_per_sender_between_them(self):
        # POLICY VI.11 with bcc_action = "notify": at most one notice per sender and day, in
        # total; the mark lives in Redis with the counters.
        cluster = Cluster(self, extra={"advice": {"bcc_action": "notify",
                                                  "notify_from": self.POSTMASTER}})
        visible = [f"p{n}@edomex.gob.mx" for n in range(6)]  # above the threshold of 5
        for i in range(4):  # HAProxy alternates the relays
            mail = message(f"advised-{i}", visible)
            with smtplib.SMTP("127.0.0.1", cluster.proxy.port, timeout=30) as client:
                client.ehlo("client.test")
                client.send_message(mail, SENDER, ["p0@edomex.gob.mx"])

        def notice_events():
            found = [e for relay in cluster.relays for e in relay.events("advice_notice")]
            return found if len(found) >= 4 else None

        events = wait_for(notice_events, 20, message="an advice_notice event per advised message")
        self.assertEqual(sorted(e["sent"] for e in events), ["false", "false", "false", "true"])
        self.assertEqual({e.get("reason") for e in events if e["sent"] == "false"},
                         {"already_notified"})
        for relay in cluster.relays:
            self.assertTrue(cluster.accepts(relay), relay.log_text())
        notices = cluster.upstream.wait_for_messages(
            1, where=lambda m: m.mail_from == self.POSTMASTER)
        cluster.upstream.wait_for_messages(5)  # the four advised messages and the notice
        self.assertEqual([m.rcpt_tos for m in notices], [[SENDER]])
        self.assertEqual(len([m for m in cluster.upstream.messages()
                              if m.mail_from == self.POSTMASTER]), 1)


class SuspensionsAcrossRelaysTest(unittest.TestCase):
    def test_a_sender_suspended_on_one_relay_is_refused_by_both_until_resumed_on_the_other(self):
        # POLICY IV.2 / VII.4: the suspension lives in Redis, every relay reads it within 1 s.
        cluster = Cluster(self)
        first, second = cluster.relays
        _, suspended, _ = first.ctl("suspend", SENDER, "--reason", "password leaked (VII.4)",
                                    json_output=True)
        self.assertEqual(suspended["suspended"]["sender"], SENDER)

        def refused_by_both():
            # Two connections through HAProxy: one per relay (it alternates them).
            results = [send(cluster.proxy.port, f"while-suspended-{n}") for n in range(2)]
            return results if all(kind == "refused" for kind, _ in results) else None

        # The other relay learns it with its next read of Redis (every second): until then it
        # may still accept; from then on both refuse.
        wait_for(refused_by_both, 15, message="both relays refusing")
        for kind, reply in [send(cluster.proxy.port, f"confirm-suspended-{n}") for n in range(4)]:
            self.assertEqual(kind, "refused", reply)
            self.assertTrue(reply.startswith("550 5.7.1 Sender suspended"), reply)
        for relay in cluster.relays:
            self.assertTrue([e for e in relay.events("reject") if e.get("rule") == "suspended"],
                            relay.log_text())
        _, listed, _ = second.ctl("status", json_output=True)
        self.assertEqual(listed.get("suspended"), 1, listed)

        self.assertIn("resumed", second.ctl("resume", SENDER)[1])

        def accepted_by_both():
            results = [send(cluster.proxy.port, f"after-resume-{n}") for n in range(2)]
            return results if all(kind == "accepted" for kind, _ in results) else None

        wait_for(accepted_by_both, 15, message="both relays accepting again")
        cluster.upstream.wait_for_messages(1, where=lambda m: b"after-resume-" in m.data)
        self.assertFalse([m for m in cluster.upstream.messages() if b"confirm-suspended" in m.data])
        for relay in cluster.relays:
            self.assertTrue(cluster.accepts(relay), relay.log_text())


class KillOneRelayTest(unittest.TestCase):
    def test_kill_9_of_one_relay_mid_load_loses_no_acknowledged_message(self):
        cluster = Cluster(self)
        victim = cluster.relays[0]
        acked = []
        failed = []

        def load(name):
            for i in range(25):
                kind, detail = send(cluster.proxy.port, f"load-{name}-{i}")
                (acked if kind == "accepted" else failed).append((f"load-{name}-{i}", detail))

        threads = [threading.Thread(target=load, args=(name,)) for name in "ab"]
        for thread in threads:
            thread.start()
        # kill -9 while both senders are busy and the victim has acknowledged some messages.
        victim.wait_for_event("accept", count=6, timeout=60)
        victim.kill()
        for thread in threads:
            thread.join(timeout=300)
        self.assertGreaterEqual(len(acked), 35, failed)
        victim_ids = {e["id"] for e in victim.events("accept")}
        self.assertGreaterEqual(len(victim_ids), 6)
        victim.start(same_port=True)  # delivers what it acknowledged before it died
        tokens = {token for token, _ in acked}

        def delivered():
            subjects = set()
            for captured in cluster.upstream.messages():
                for line in captured.data.split(b"\r\n"):
                    if line.startswith(b"Subject: "):
                        subjects.add(line[9:].decode())
            return subjects if tokens <= subjects else None

        wait_for(delivered, 60, message=lambda: f"every acknowledged message of {sorted(tokens)}")
        self.assertTrue(cluster.accepts(cluster.relays[1]))


class RedisStoppedTest(unittest.TestCase):
    def test_defer_mode_answers_451_4_3_0_and_recovers_when_redis_returns(self):
        cluster = Cluster(self, "defer", limits={"rate_action": "defer"})
        self.assertEqual(send(cluster.proxy.port, "before")[0], "accepted")
        cluster.redis.stop()
        for i in range(2):  # one connection to each relay
            kind, reply = send(cluster.proxy.port, f"down-{i}")
            self.assertEqual(kind, "refused")
            self.assertTrue(reply.startswith("451 4.3.0 Rate counters temporarily unavailable"),
                            reply)
        for relay in cluster.relays:
            alarms = relay.wait_for_event("redis_unavailable", fallback="defer")
            self.assertEqual(alarms[0]["level"], "error")
        cluster.redis.start()
        wait_for(lambda: send(cluster.proxy.port, "after")[0] == "accepted", 30,
                 message="a message accepted once Redis is back")
        wait_for(lambda: any(r.events("redis_restored") for r in cluster.relays), 10,
                 message="event=redis_restored")
        cluster.upstream.wait_for_messages(1, where=lambda m: b"Subject: after" in m.data)
        subjects = b"".join(m.data for m in cluster.upstream.messages())
        self.assertNotIn(b"Subject: down-", subjects)

    def test_local_mode_accepts_and_logs_loudly_once_per_outage(self):
        cluster = Cluster(self, "local", limits={"rate_action": "defer"})
        self.assertEqual(send(cluster.proxy.port, "before")[0], "accepted")
        cluster.redis.stop()
        outcomes = [send(cluster.proxy.port, f"local-{i}") for i in range(4)]
        self.assertEqual([o[0] for o in outcomes], ["accepted"] * 4, outcomes)
        for relay in cluster.relays:
            alarms = relay.wait_for_event("redis_unavailable", fallback="local")
            first = [a for a in alarms if a.get("reminder") == "no"]
            self.assertEqual(len(first), 1, alarms)  # once per outage (reminders: 1 min)
            self.assertEqual(first[0]["level"], "error")
        cluster.upstream.wait_for_messages(5)
        cluster.redis.start()
        wait_for(lambda: all(r.events("redis_restored") or not r.running() for r in cluster.relays)
                 and send(cluster.proxy.port, "after")[0] == "accepted", 30,
                 message="recovery after Redis came back")


if __name__ == "__main__":
    unittest.main()
