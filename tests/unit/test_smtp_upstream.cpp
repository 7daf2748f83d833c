#include <doctest/doctest.h>

#include "policy_relay/upstream/smtp_upstream.hpp"
#include "upstream_test_support.hpp"

using namespace std::chrono_literals;
using policy_relay::upstream::DeliveryResult;
using policy_relay::upstream::SmtpUpstream;
using upstream_test::FakeSmtpServer;
using upstream_test::run_coroutine;
using upstream_test::sleep_for;
using upstream_test::TempDir;
using upstream_test::write_spool_file;
namespace asio = boost::asio;

namespace {

SmtpUpstream::Config config_for(std::uint16_t port) {
  SmtpUpstream::Config config;
  config.host = "127.0.0.1";
  config.port = port;
  config.helo_hostname = "relay.test";
  config.connections = 2;
  config.connect_timeout = 2s;
  config.command_timeout = 2s;
  config.data_timeout = 2s;
  config.idle_timeout = 5s;
  return config;
}

std::string result_line(const DeliveryResult& result, std::size_t i) {
  const auto& reply = result.recipients.at(i).reply;
  return std::to_string(reply.code) + " " + reply.enhanced + " " + reply.text;
}

const std::string kMessage =
    "Received: from pc by relay.test\r\n"
    "From: <sender@edomex.test>\r\n"
    "Subject: dots\r\n"
    "\r\n"
    ".a line that starts with a dot\r\n"
    ".\r\n"
    "..two dots\r\n"
    "last line without CRLF";
const std::string kStuffed =
    "Received: from pc by relay.test\r\n"
    "From: <sender@edomex.test>\r\n"
    "Subject: dots\r\n"
    "\r\n"
    "..a line that starts with a dot\r\n"
    "..\r\n"
    "...two dots\r\n"
    "last line without CRLF\r\n"
    ".\r\n";

// Recipient lists live outside the coroutines: g++ 12 cannot compile a braced list of
// string literals inside a co_await expression ("array used as initializer").
const std::vector<std::string> to_a{"a@example.test"};
const std::vector<std::string> to_a_b{"a@example.test", "b@example.test"};
const std::vector<std::string> to_b{"b@example.test"};
const std::vector<std::string> to_ok{"ok@example.test"};
const std::vector<std::string> to_ok_refused{"ok@example.test", "refused@example.test"};
const std::vector<std::string> to_other{"other@example.test"};

}  // namespace

// The coroutines only act and record; the assertions run once the io_context is done.

TEST_CASE("SmtpUpstream delivers the spooled octets dot-stuffed and reports each recipient") {
  TempDir dir;
  auto stored = write_spool_file(dir.path.string(), "M1", kMessage);
  asio::io_context io;
  FakeSmtpServer server(io, {.refuse = {"refused@example.test"}});
  SmtpUpstream upstream(io.get_executor(), config_for(server.port()));
  DeliveryResult first, second, late;
  std::size_t idle_after_first = 0;
  std::size_t open_after_shutdown = 1;
  int quits_after_shutdown = 0;
  run_coroutine(io, [&]() -> asio::awaitable<void> {
    first = co_await upstream.deliver(stored, to_ok_refused);
    idle_after_first = upstream.idle_connections();
    // The pooled connection carries the next message after RSET.
    second = co_await upstream.deliver(stored, to_other);
    upstream.shutdown();
    co_await sleep_for(100ms);
    quits_after_shutdown = server.quits;
    open_after_shutdown = upstream.open_connections();
    late = co_await upstream.deliver(stored, to_ok);
    server.stop();
  });
  REQUIRE(first.recipients.size() == 2);
  CHECK(first.recipients[0].recipient == "ok@example.test");
  CHECK(result_line(first, 0) == "250 2.0.0 Ok: queued as FAKE1");
  CHECK(result_line(first, 1) == "550 5.1.1 <refused@example.test>: Recipient address rejected");
  CHECK(first.summary == "250 2.0.0 Ok: queued as FAKE1");
  CHECK(first.upstream_reply == "FAKE1");
  REQUIRE(server.messages.size() == 2);
  CHECK(server.messages[0] == kStuffed);
  CHECK(idle_after_first == 1);

  CHECK(result_line(second, 0) == "250 2.0.0 Ok: queued as FAKE2");
  CHECK(server.connections == 1);
  CHECK(server.transcripts.at(0).find(
            "RSET\r\nMAIL FROM:<sender@edomex.test> SIZE=" + std::to_string(kMessage.size()) +
            "\r\n") != std::string::npos);

  CHECK(quits_after_shutdown == 1);
  CHECK(open_after_shutdown == 0);
  CHECK(result_line(late, 0) == "451 4.3.2 Upstream delivery is shutting down");
}

TEST_CASE("SmtpUpstream talks one command at a time to a server without PIPELINING") {
  TempDir dir;
  auto stored = write_spool_file(dir.path.string(), "M2", kMessage);
  stored.envelope.body_type = "8BITMIME";
  asio::io_context io;
  FakeSmtpServer server(io, {.pipelining = false});
  SmtpUpstream upstream(io.get_executor(), config_for(server.port()));
  DeliveryResult result;
  run_coroutine(io, [&]() -> asio::awaitable<void> {
    result = co_await upstream.deliver(stored, to_a_b);
    upstream.shutdown();
    co_await sleep_for(100ms);
    server.stop();
  });
  CHECK(result_line(result, 0) == "250 2.0.0 Ok: queued as FAKE1");
  CHECK(result_line(result, 1) == "250 2.0.0 Ok: queued as FAKE1");
  // No 8BITMIME offered: BODY= is left out.
  CHECK(
      server.transcripts.at(0) ==
      "EHLO relay.test\r\nMAIL FROM:<sender@edomex.test> SIZE=" + std::to_string(kMessage.size()) +
          "\r\nRCPT TO:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n" + kStuffed +
          "QUIT\r\n");
}

TEST_CASE("a large message is streamed in chunks with dots stuffed across chunk boundaries") {
  // Lines of 64 octets put a line start exactly on every 64 KiB chunk boundary.
  std::string message = "Subject: " + std::string(51, 'b') + "\r\n\r\n";  // 64 octets
  const std::string line = std::string(62, 'x') + "\r\n";
  const std::string dotted = "." + std::string(61, 'y') + "\r\n";
  std::string expected = message;
  while (message.size() < 300 * 1024) {
    const bool on_boundary = message.size() % (64 * 1024) == 0;
    message += on_boundary ? dotted : line;
    expected += on_boundary ? "." + dotted : line;
  }
  expected += ".\r\n";
  TempDir dir;
  auto stored = write_spool_file(dir.path.string(), "M3", message);
  asio::io_context io;
  FakeSmtpServer server(io, {});
  SmtpUpstream upstream(io.get_executor(), config_for(server.port()));
  DeliveryResult result;
  run_coroutine(io, [&]() -> asio::awaitable<void> {
    result = co_await upstream.deliver(stored, to_a);
    upstream.shutdown();
    server.stop();
  });
  CHECK(result.recipients.at(0).reply.code == 250);
  REQUIRE(server.messages.size() == 1);
  CHECK(server.messages[0].size() == expected.size());
  CHECK(server.messages[0] == expected);
}

TEST_CASE("idle pooled connections are closed with QUIT after idle_timeout") {
  TempDir dir;
  auto stored = write_spool_file(dir.path.string(), "M4", kMessage);
  asio::io_context io;
  FakeSmtpServer server(io, {});
  auto config = config_for(server.port());
  config.idle_timeout = 50ms;
  SmtpUpstream upstream(io.get_executor(), config);
  std::size_t open_after_delivery = 0;
  run_coroutine(io, [&]() -> asio::awaitable<void> {
    co_await upstream.deliver(stored, to_a);
    open_after_delivery = upstream.open_connections();
    co_await sleep_for(300ms);
    server.stop();
  });
  CHECK(open_after_delivery == 1);
  CHECK(server.quits == 1);
  CHECK(upstream.open_connections() == 0);
  CHECK(upstream.idle_connections() == 0);
}

TEST_CASE("a pooled connection the server dropped is replaced without failing the message") {
  TempDir dir;
  auto stored = write_spool_file(dir.path.string(), "M5", kMessage);
  asio::io_context io;
  FakeSmtpServer server(io, {.close_after_messages = 1});
  SmtpUpstream upstream(io.get_executor(), config_for(server.port()));
  DeliveryResult result;
  run_coroutine(io, [&]() -> asio::awaitable<void> {
    co_await upstream.deliver(stored, to_a);
    co_await sleep_for(50ms);
    result = co_await upstream.deliver(stored, to_b);
    upstream.shutdown();
    server.stop();
  });
  CHECK(result_line(result, 0) == "250 2.0.0 Ok: queued as FAKE2");
  CHECK(server.connections == 2);
}

TEST_CASE("network failures, timeouts and garbage become 451 4.4.1 for every recipient") {
  TempDir dir;
  auto stored = write_spool_file(dir.path.string(), "M6", kMessage);
  asio::io_context io;
  std::uint16_t closed_port = 0;
  {
    upstream_test::tcp::acceptor probe(io, {asio::ip::make_address("127.0.0.1"), 0});
    closed_port = probe.local_endpoint().port();
  }
  FakeSmtpServer silent(io, {.mode = FakeSmtpServer::Mode::silent});
  FakeSmtpServer garbage(io, {.mode = FakeSmtpServer::Mode::garbage});
  const std::uint16_t silent_port = silent.port();
  auto silent_config = config_for(silent_port);
  silent_config.command_timeout = 100ms;
  SmtpUpstream refused_upstream(io.get_executor(), config_for(closed_port));
  SmtpUpstream silent_upstream(io.get_executor(), silent_config);
  SmtpUpstream garbage_upstream(io.get_executor(), config_for(garbage.port()));
  DeliveryResult refused, timed_out, confused;
  std::size_t silent_open = 1, garbage_open = 1;
  run_coroutine(io, [&]() -> asio::awaitable<void> {
    refused = co_await refused_upstream.deliver(stored, to_a_b);
    timed_out = co_await silent_upstream.deliver(stored, to_a);
    silent_open = silent_upstream.open_connections();
    confused = co_await garbage_upstream.deliver(stored, to_a);
    garbage_open = garbage_upstream.open_connections();
    silent.stop();
    garbage.stop();
  });
  CHECK(result_line(refused, 0) == "451 4.4.1 Cannot connect to 127.0.0.1:" +
                                       std::to_string(closed_port) + ": Connection refused");
  CHECK(result_line(refused, 1) == result_line(refused, 0));
  CHECK(result_line(timed_out, 0) ==
        "451 4.4.1 Timed out after 100ms waiting for the reply to greeting from 127.0.0.1:" +
            std::to_string(silent_port));
  CHECK(silent_open == 0);
  CHECK(result_line(confused, 0) == "451 4.4.1 Upstream protocol error: malformed reply");
  CHECK(garbage_open == 0);
  CHECK(garbage.quits == 0);
}

TEST_CASE("an unreadable spool file is a local 451 4.3.0 and opens no connection") {
  TempDir dir;
  auto stored = write_spool_file(dir.path.string(), "M7", kMessage);
  stored.path += ".missing";
  asio::io_context io;
  FakeSmtpServer server(io, {});
  SmtpUpstream upstream(io.get_executor(), config_for(server.port()));
  DeliveryResult result;
  run_coroutine(io, [&]() -> asio::awaitable<void> {
    result = co_await upstream.deliver(stored, to_a);
    server.stop();
  });
  CHECK(result_line(result, 0) ==
        "451 4.3.0 Cannot open the spool file: No such file or directory");
  CHECK(server.connections == 0);
}
