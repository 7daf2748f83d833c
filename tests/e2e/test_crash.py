"""kill -9 under load, and again during recovery, loses no acknowledged message (DESIGN.md
"Delivery semantics").

The proof is client-side: a pool of smtplib clients records every message for which IT saw
"250 ... queued as ID"; smtp-source adds concurrent load. The relay is killed mid-run and
restarted on the same spool; every acknowledged message must reach the upstream at least once.
Duplicates are allowed (at most once more after a crash) and only counted."""

import collections
import subprocess
import time
import unittest

from harness import (RECEIVED_ID, SENDER, CaptureUpstream, ClientPool, Relay, delivered_tokens,
                     split_received, wait_for)

ACKS_BEFORE_KILL = 150


class CrashTest(unittest.TestCase):
    def test_kill_9_under_load_loses_no_acknowledged_message(self):
        with CaptureUpstream() as upstream, Relay(upstream=upstream,
                                                  config={"server": {"max_connections_per_ip": 100}}) as relay:
            load = subprocess.Popen(
                ["smtp-source", "-s", "20", "-m", "2000", "-l", "5120", "-f", SENDER, "-t", "rcpt@example.org",
                 f"127.0.0.1:{relay.port}"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            self.addCleanup(lambda: load.poll() is None and load.kill())
            pool = ClientPool(relay.port)
            pool.start()
            wait_for(lambda: pool.count() >= ACKS_BEFORE_KILL, 60,
                     message=f"{ACKS_BEFORE_KILL} acknowledged pool messages")
            relay.kill()
            killed_at = time.monotonic()
            pool.stop.set()
            self.assertTrue(pool.join(15), "pool threads hung after the kill")
            try:
                load_output = load.communicate(timeout=15)[0].decode("utf-8", "replace")
            except subprocess.TimeoutExpired:
                load.kill()
                load_output = load.communicate()[0].decode("utf-8", "replace")
            acknowledged = dict(pool.acknowledged)
            spooled_at_kill = len(relay.queued_ids())
            accepted_before_kill = len(relay.events("accept"))

            relay.start()
            # A second kill -9 while the recovered queue is being delivered: delivery state
            # (ID.state, removals) must survive a crash too.
            captured_at_restart = len(upstream.messages())
            wait_for(lambda: len(upstream.messages()) >= captured_at_restart + 50 or not relay.queued_ids(), 60,
                     interval=0.1, message="recovered messages being delivered")
            still_queued = len(relay.queued_ids())
            relay.kill()
            relay.start()

            def every_acknowledged_token_delivered():
                delivered = delivered_tokens(upstream)
                missing = [t for t in acknowledged if t not in delivered]
                return delivered if not missing else None

            def missing():
                delivered = delivered_tokens(upstream)
                lost = sorted(t for t in acknowledged if t not in delivered)
                return (f"{len(acknowledged)} acknowledged messages delivered: {len(lost)} missing, e.g. "
                        f"{[(t, acknowledged[t]) for t in lost[:5]]}; spool queue {len(relay.queued_ids())}")

            delivered = wait_for(every_acknowledged_token_delivered, 60, interval=0.5, message=missing)
            relay.wait_queue_empty(timeout=60)

            for token, identifier in acknowledged.items():
                ids = {received_id for received_id, _ in delivered[token]}
                self.assertEqual(ids, {identifier}, f"{token} was acknowledged as {identifier}, delivered as {ids}")
            duplicates = {t: len(v) for t, v in delivered.items() if len(v) > 1}
            all_messages = upstream.messages()
            # Server side too: an accept line is written after the spool commit, so every id the
            # log shows as accepted (smtp-source's included) must have been delivered.
            delivered_ids = collections.Counter(
                m.group(1).decode() for m in (RECEIVED_ID.search(split_received(c.data)[0]) for c in all_messages) if m)
            accepted_ids = {e["id"] for e in relay.events("accept")}
            self.assertEqual(sorted(accepted_ids - set(delivered_ids)), [], "logged as accepted, never delivered")
            duplicate_ids = sum(1 for count in delivered_ids.values() if count > 1)
            load_delivered = sum(1 for m in all_messages if m.rcpt_tos == ["rcpt@example.org"])
            print(f"\ncrash: pool acknowledged {len(acknowledged)} (+{pool.unanswered} unanswered at the kill); "
                  f"accept log lines before kill {accepted_before_kill}; spool held {spooled_at_kill} at the kill; "
                  f"smtp-source messages delivered {load_delivered}; "
                  f"pool messages delivered twice or more: {len(duplicates)} {sorted(duplicates.items())[:10]}; "
                  f"messages (any client) delivered twice or more: {duplicate_ids} of {len(delivered_ids)}; "
                  f"second kill with {still_queued} still queued; "
                  f"drained {time.monotonic() - killed_at:.1f}s after the first kill; "
                  f"smtp-source said: {load_output.strip()[-200:]!r}")
            self.assertGreaterEqual(len(acknowledged), ACKS_BEFORE_KILL)
            pool_errors = [e for e in pool.errors if "DATA" in e and "421" not in e]
            self.assertEqual(pool_errors, [], "a pool client got a refusal before the kill")


if __name__ == "__main__":
    unittest.main()
