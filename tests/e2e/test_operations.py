"""Operations against the running daemon (issue 6): live reload, a refused broken reload, SIGTERM
draining DATA, every policy-relayctl command (human and --json), automatic suspension (POLICY
IV.2) across a restart, a disabled account (III.1) after reload, `accounts check` on a sample
directory (I.1-I.4), sd_notify, and `systemd-analyze verify` of the unit file."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest

from harness import (SENDER, CaptureUpstream, RawClient, Relay, ctl_path, simple_message,
                     queued_id, wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))


def ehlo(relay):
    client = RawClient(relay.port)
    assert client.command("EHLO client.test").startswith("250")
    return client


def send(client, sender, recipients, subject="ops"):
    assert client.command(f"MAIL FROM:<{sender}>").startswith("250")
    for recipient in recipients:
        assert client.command(f"RCPT TO:<{recipient}>").startswith("250")
    assert client.command("DATA").startswith("354")
    client.send(simple_message(subject=subject, sender=sender) + b".\r\n")
    return client.reply_line()


class ReloadTest(unittest.TestCase):
    def test_reload_changes_a_limit_without_dropping_a_live_session(self):
        with CaptureUpstream() as upstream, Relay(upstream=upstream, config={
                "limits": {"max_recipients_per_message": 2}}) as relay:
            live = ehlo(relay)
            self.addCleanup(live.close)
            self.assertTrue(live.command(f"MAIL FROM:<{SENDER}>").startswith("250"))
            relay.config["limits"]["max_recipients_per_message"] = 4
            relay.write_config()
            code, output, _ = relay.ctl("reload")
            self.assertEqual(code, 0)
            self.assertIn("reloaded", output)
            relay.wait_for_event("reload", status="ok", trigger="admin")
            # The live session keeps its configuration: the third recipient is over its limit.
            for n in (1, 2):
                self.assertTrue(live.command(f"RCPT TO:<r{n}@example.org>").startswith("250"))
            self.assertTrue(live.command("RCPT TO:<r3@example.org>").startswith("452"))
            self.assertTrue(live.command("DATA").startswith("354"))
            live.send(simple_message(subject="live") + b".\r\n")
            self.assertTrue(queued_id(live.reply_line()))
            # A new session gets the new one.
            fresh = ehlo(relay)
            self.addCleanup(fresh.close)
            self.assertTrue(queued_id(send(fresh, SENDER, [f"n{n}@example.org" for n in range(4)])))
            messages = upstream.wait_for_messages(2)
            self.assertEqual(sorted(len(m.rcpt_tos) for m in messages), [2, 4])
            # Turning notices on needs their sender, built at start: the reload says so.
            relay.config["advice"] = {"bcc_action": "notify", "notify_from": "avisos@edomex.gob.mx"}
            relay.write_config()
            _, reloaded, _ = relay.ctl("reload", json_output=True)
            self.assertEqual(reloaded["restart_required"],
                             ["advice (an action turned to or from notify, notify_from)"])

    def test_a_broken_file_is_refused_and_the_running_config_stays(self):
        with CaptureUpstream() as upstream, Relay(upstream=upstream, config={
                "limits": {"max_recipients_per_message": 1}}) as relay:
            with open(relay.config_path, "a", encoding="utf-8") as file:
                file.write("\n[limits]\nmax_recipients_per_message = 3\n")  # a duplicate table
            code, _, error = relay.ctl("reload", check=False)
            self.assertEqual(code, 1)
            self.assertIn("policy-relay.toml:", error)
            event = relay.wait_for_event("reload", status="failed")[-1]
            self.assertRegex(event["error"], r"policy-relay\.toml:\d+:\d+")
            self.assertTrue(relay.running())
            client = ehlo(relay)
            self.addCleanup(client.close)
            self.assertTrue(client.command(f"MAIL FROM:<{SENDER}>").startswith("250"))
            self.assertTrue(client.command("RCPT TO:<a@example.org>").startswith("250"))
            self.assertTrue(client.command("RCPT TO:<b@example.org>").startswith("452"))
            # SIGHUP with the same broken file: same refusal, still running.
            relay.process.send_signal(signal.SIGHUP)
            relay.wait_for_event("reload", status="failed", trigger="SIGHUP")
            self.assertTrue(relay.running())

    def test_sigterm_drains_a_data_in_flight(self):
        with CaptureUpstream() as upstream, Relay(upstream=upstream) as relay:
            client = ehlo(relay)
            self.addCleanup(client.close)
            self.assertTrue(client.command(f"MAIL FROM:<{SENDER}>").startswith("250"))
            self.assertTrue(client.command("RCPT TO:<drain@example.org>").startswith("250"))
            self.assertTrue(client.command("DATA").startswith("354"))
            client.send(simple_message(subject="drain")[:40])
            relay.process.send_signal(signal.SIGTERM)
            relay.wait_for_event("shutdown", phase="begin")
            client.send(simple_message(subject="drain")[40:] + b".\r\n")
            self.assertTrue(queued_id(client.reply_line()))
            self.assertEqual(relay.process.wait(timeout=20), 0)
            relay.process = None
            relay.start()
            self.assertEqual(upstream.wait_for_messages(1)[0].rcpt_tos, ["drain@example.org"])


class CtlTest(unittest.TestCase):
    def test_every_daemon_command_human_and_json(self):
        # The upstream defers every recipient: messages stay queued for the queue commands.
        # rate_action "defer": messages_per_minute counts accepted messages (usage shows them).
        with CaptureUpstream(rcpt=["*=451 4.3.0 later"]) as upstream, Relay(upstream=upstream, config={
                "spool": {"retry_min": "1h", "retry_max": "2h"},
                "limits": {"rate_action": "defer"}}) as relay:
            client = ehlo(relay)
            self.addCleanup(client.close)
            ids = [queued_id(send(client, SENDER, ["x@example.org", "y@example.org"], f"q{n}"))
                   for n in range(3)]
            relay.wait_for_event("retry", count=3)

            _, status, _ = relay.ctl("status", json_output=True)
            self.assertEqual((status["queue"], status["connections"]), (3, 1))
            self.assertGreaterEqual(status["last_minute"]["accepted"], 3)
            self.assertIn("last minute", relay.ctl("status")[1])

            _, usage, _ = relay.ctl("usage", SENDER.upper(), json_output=True)
            self.assertEqual((usage["sender"], usage["messages_last_minute"], usage["recipients_last_24h"]),
                             (SENDER, 3, 6))
            self.assertIn("in the last 24 h", relay.ctl("usage", SENDER)[1])

            _, top, _ = relay.ctl("top", json_output=True)
            self.assertEqual(top["senders"][0], {"sender": SENDER, "messages": 3, "recipients": 6,
                                                 "suspended": False})
            self.assertIn(SENDER, relay.ctl("top", "5")[1])

            _, listing, _ = relay.ctl("queue", "list", json_output=True)
            self.assertEqual(sorted(row["id"] for row in listing["messages"]), sorted(ids))
            self.assertTrue(all(row["state"] == "deferred" for row in listing["messages"]))
            self.assertIn("3 message(s)", relay.ctl("queue", "list")[1])

            _, shown, _ = relay.ctl("queue", "show", ids[0], json_output=True)
            self.assertEqual((shown["from"], shown["recipients"]), (SENDER, ["x@example.org", "y@example.org"]))
            self.assertNotIn("body", shown)
            human = relay.ctl("queue", "show", ids[0])[1]
            self.assertIn("<y@example.org>", human)
            self.assertNotIn("Subject", human)

            _, held, _ = relay.ctl("queue", "hold", ids[0], json_output=True)
            self.assertTrue(held["held"])
            self.assertIn("held", relay.ctl("queue", "hold", ids[1])[1])
            _, listing, _ = relay.ctl("queue", "list", json_output=True)
            states = {row["id"]: row["state"] for row in listing["messages"]}
            self.assertEqual((states[ids[0]], states[ids[1]], states[ids[2]]), ("held", "held", "deferred"))

            _, released, _ = relay.ctl("queue", "release", ids[1], json_output=True)
            self.assertTrue(released["released"])
            self.assertIn("was not held", relay.ctl("queue", "release", ids[2])[1])

            _, deleted, _ = relay.ctl("queue", "delete", ids[0], json_output=True)
            self.assertTrue(deleted["deleted"])
            self.assertNotIn(ids[0], relay.queued_ids())
            code, _, error = relay.ctl("queue", "show", ids[0], check=False)
            self.assertEqual(code, 1)
            self.assertIn("no message", error)
            self.assertIn("deleted", relay.ctl("queue", "delete", ids[2])[1])

            before = len(upstream.messages())
            _, retried, _ = relay.ctl("queue", "retry", json_output=True)
            self.assertEqual(retried["retried"], 1)
            relay.wait_for_event("retry", count=5)
            self.assertIn("scheduled", relay.ctl("queue", "retry")[1])
            self.assertEqual(len(upstream.messages()), before)  # still deferred upstream

            _, suspended, _ = relay.ctl("suspend", "Bad@Edomex.gob.mx", "--reason", "phishing", json_output=True)
            self.assertEqual(suspended["suspended"]["sender"], "bad@edomex.gob.mx")
            _, listing, _ = relay.ctl("suspensions", json_output=True)
            self.assertEqual([s["sender"] for s in listing["suspensions"]], ["bad@edomex.gob.mx"])
            self.assertIn("phishing", relay.ctl("suspensions")[1])
            self.assertIn("resumed", relay.ctl("resume", "bad@edomex.gob.mx")[1])
            code, _, error = relay.ctl("resume", "bad@edomex.gob.mx", check=False)
            self.assertEqual((code, "is not suspended" in error), (1, True))
            self.assertIn("suspended", relay.ctl("suspend", "b2@edomex.gob.mx", "--reason", "x")[1])
            self.assertEqual(relay.ctl("resume", "b2@edomex.gob.mx", json_output=True)[1]["sender"],
                             "b2@edomex.gob.mx")

            _, reloaded, _ = relay.ctl("reload", json_output=True)
            self.assertEqual(reloaded["restart_required"], [])
            self.assertEqual(relay.ctl("check-config", relay.config_path)[0], 0)
            self.assertEqual(relay.ctl("frobnicate", check=False)[0], 2)

    def test_passwd_writes_the_users_file(self):
        directory = tempfile.mkdtemp(prefix="policy-relay-e2e-passwd-")
        self.addCleanup(shutil.rmtree, directory, True)
        users = os.path.join(directory, "users")
        result = subprocess.run([ctl_path(), "passwd", "--file", users, "ana.lopez@edomex.gob.mx"],
                                input="a long passphrase\n", capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(users, encoding="utf-8") as file:
            self.assertTrue(file.read().startswith("ana.lopez@edomex.gob.mx:"))


class SuspensionTest(unittest.TestCase):
    def test_suspension_trips_holds_the_queue_survives_a_restart_and_is_lifted_by_resume(self):
        bad = "spammer@edomex.gob.mx"
        with CaptureUpstream(rcpt=["held@example.org=451 4.3.0 later"], rcpt_times=1) as upstream, \
                Relay(upstream=upstream, config={
                    "limits": {"max_recipients_per_message": 1},
                    "spool": {"retry_min": "1s", "retry_max": "1s"},
                    "abuse": {"refusals": 3, "refusals_window": "10m"}}) as relay:
            client = ehlo(relay)
            self.addCleanup(client.close)
            queued = queued_id(send(client, bad, ["held@example.org"]))
            relay.wait_for_event("retry", id=queued)
            for n in range(3):
                self.assertTrue(client.command(f"MAIL FROM:<{bad}>").startswith("250"))
                self.assertTrue(client.command("RCPT TO:<a@example.org>").startswith("250"))
                self.assertTrue(client.command(f"RCPT TO:<over{n}@example.org>").startswith("452"))
                self.assertTrue(client.command("RSET").startswith("250"))
            event = relay.wait_for_event("suspend", sender=bad)[-1]
            self.assertEqual((event["source"], event["clause"]), ("abuse", "IV.2"))
            self.assertIn("trigger=refusals count=3 threshold=3", event["evidence"])
            self.assertEqual(client.command(f"MAIL FROM:<{bad}>")[:9], "550 5.7.1")
            relay.wait_for_event("hold", id=queued)
            self.assertEqual(relay.ctl("queue", "show", queued, json_output=True)[1]["state"], "held")
            client.close()

            relay.restart()
            client = ehlo(relay)
            self.addCleanup(client.close)
            self.assertEqual(client.command(f"MAIL FROM:<{bad}>")[:9], "550 5.7.1")
            wait_for(lambda: relay.ctl("queue", "show", queued, json_output=True)[1]["state"] == "held",
                     15, message="the message held again after the restart")
            self.assertEqual([m for m in upstream.messages() if "held@example.org" in m.rcpt_tos], [])

            _, resumed, _ = relay.ctl("resume", bad, json_output=True)
            self.assertEqual(resumed["released"], 1)
            self.assertEqual(upstream.wait_for_messages(1, where=lambda m: "held@example.org" in m.rcpt_tos)[0].mail_from, bad)
            self.assertTrue(client.command(f"MAIL FROM:<{bad}>").startswith("250"))


class AccountsTest(unittest.TestCase):
    def write_directory(self, path, status_lines):
        with open(path, "w", encoding="utf-8") as file:
            file.write('[[account]]\naddress = "juan.perez@edomex.gob.mx"\nkind = "personal"\n'
                       'owner = "Juan Perez"\nposition = "Analista"\nunit = "Sistemas"\n'
                       'agency = "DGSEI"\n' + status_lines + "\n"
                       '[[account]]\naddress = "ana.soto@edomex.gob.mx"\nkind = "personal"\n'
                       'owner = "Ana Soto"\nposition = "Jefa"\nunit = "Sistemas"\nagency = "DGSEI"\n'
                       'status = "leave"\nuntil = 2027-01-31\n')

    def test_a_disabled_account_is_refused_after_reload_and_leave_is_logged(self):
        with CaptureUpstream() as upstream, Relay(upstream=upstream, start=False) as relay:
            directory = os.path.join(relay.temp_dir, "accounts.toml")
            self.write_directory(directory, 'status = "active"')
            relay.config["senders"] = {"directory": directory}
            relay.write_config()
            relay.start()
            client = ehlo(relay)
            self.addCleanup(client.close)
            self.assertTrue(queued_id(send(client, "juan.perez@edomex.gob.mx", ["a@example.org"])))
            self.assertTrue(queued_id(send(client, "ana.soto@edomex.gob.mx", ["a@example.org"])))
            relay.wait_for_event("account_leave", **{"from": "ana.soto@edomex.gob.mx", "until": "2027-01-31"})

            self.write_directory(directory, 'status = "disabled"\nsince = 2026-11-01\nreason = "baja"')
            self.assertEqual(relay.ctl("reload")[0], 0)
            # The session in flight keeps the directory it started with; new ones see the baja.
            self.assertTrue(client.command("MAIL FROM:<juan.perez@edomex.gob.mx>").startswith("250"))
            client.close()
            client = ehlo(relay)
            self.addCleanup(client.close)
            self.assertEqual(client.command("MAIL FROM:<juan.perez@edomex.gob.mx>"),
                             "550 5.7.1 Sender account disabled; ask the mail administrator")
            event = relay.wait_for_event("reject", rule="account_disabled")[-1]
            self.assertEqual((event["clause"], event["code"]), ("III.1", "550"))
            # A broken directory is refused with its file and line; the last one stays.
            with open(directory, "a", encoding="utf-8") as file:
                file.write('[[account]]\naddress = "x@edomex.gob.mx"\nstatus = "gone"\n')
            code, _, error = relay.ctl("reload", check=False)
            self.assertEqual(code, 1)
            self.assertRegex(error, r"accounts\.toml:\d+:\d+: key 'account\[3\]\.status'")
            self.assertTrue(client.command("MAIL FROM:<juan.perez@edomex.gob.mx>").startswith("550"))
            self.assertEqual(len(upstream.wait_for_messages(2)), 2)

    def test_accounts_check_finds_each_kind_of_breach_and_suggest_proposes_free_names(self):
        directory = tempfile.mkdtemp(prefix="policy-relay-e2e-accounts-")
        self.addCleanup(shutil.rmtree, directory, True)
        config = os.path.join(directory, "policy-relay.toml")
        with open(config, "w", encoding="utf-8") as file:
            file.write(f'[senders]\ndirectory = "{os.path.join(HERE, "data", "accounts_breaches.toml")}"\n'
                       '[upstream]\nauth = "none"\n')  # a file that loads: no XOAUTH2 settings
        run = lambda *args: subprocess.run([ctl_path(), "--config", config, *args], capture_output=True,
                                           text=True, timeout=30)
        result = run("--json", "accounts", "check")
        self.assertEqual(result.returncode, 1)
        import json
        report = json.loads(result.stdout)
        found = {(b["address"], b["rule"]) for b in report["breaches"]}
        self.assertEqual(found, {
            ("maximiliano.fernandez@edomex.gob.mx", "name_length"),
            ("ana.lopez@gmail.com", "domain"),
            ("analopez@edomex.gob.mx", "personal_name"),
            ("soporte@edomex.gob.mx", "generic_name"),
            ("abalon.parado@edomex.gob.mx", "program_name"),
            ("gemdgsei2@edomex.gob.mx", "generic_per_agency"),
            ("gemdgsei3@edomex.gob.mx", "generic_per_agency"),
            ("salud@edomex.gob.mx", "program_per_agency"),
            ("j.perez@edomex.gob.mx", "personal_per_owner"),
            ("juan.perez@edomex.gob.mx", "duplicate"),
            ("maria.soto@edomex.gob.mx", "responsible"),
        })
        human = run("accounts", "check").stdout
        self.assertIn("accounts_breaches.toml:107: juan.perez@edomex.gob.mx: listed again", human)
        suggestions = json.loads(run("--json", "accounts", "suggest", "juan.perez").stdout)["suggestions"]
        self.assertTrue(suggestions)
        self.assertNotIn("j.perez@edomex.gob.mx", suggestions)  # taken
        self.assertTrue(all(len(s.split("@")[0]) <= 20 for s in suggestions))
        self.assertIn("is free", run("accounts", "suggest", "nadie.nunca").stdout)


class SystemdTest(unittest.TestCase):
    def test_notify_ready_reloading_watchdog_stopping(self):
        with CaptureUpstream() as upstream, Relay(upstream=upstream, start=False) as relay:
            path = os.path.join(relay.temp_dir, "notify.sock")
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.addCleanup(listener.close)
            listener.bind(path)
            listener.settimeout(15)
            relay.env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="400000")
            relay.start()
            seen = []

            def until(state):
                while not any(state in message for message in seen):
                    seen.append(listener.recv(4096).decode())
            until("READY=1")
            until("WATCHDOG=1")
            relay.ctl("reload")
            until("RELOADING=1")
            self.assertIn("MONOTONIC_USEC=", next(m for m in seen if "RELOADING=1" in m))
            relay.stop()
            until("STOPPING=1")

    @unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze is not installed")
    def test_systemd_analyze_verify_passes_on_the_unit_files(self):
        directory = tempfile.mkdtemp(prefix="policy-relay-e2e-systemd-")
        self.addCleanup(shutil.rmtree, directory, True)
        with open(os.path.join(SOURCE, "systemd", "policy-relay.service"), encoding="utf-8") as file:
            unit = file.read()
        # verify wants the executables to exist: the ones just built stand in for /usr/sbin.
        unit = unit.replace("/usr/sbin/policy-relayd", os.environ["POLICY_RELAYD"])
        unit = unit.replace("/usr/sbin/policy-relayctl", ctl_path())
        path = os.path.join(directory, "policy-relay.service")
        with open(path, "w", encoding="utf-8") as file:
            file.write(unit)
        result = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(result.stderr.strip(), "")
        for name, command in (("policy-relay.sysusers.conf", "systemd-sysusers"),
                              ("policy-relay.tmpfiles.conf", "systemd-tmpfiles")):
            self.assertTrue(os.path.exists(os.path.join(SOURCE, "systemd", name)))


if __name__ == "__main__":
    unittest.main()
