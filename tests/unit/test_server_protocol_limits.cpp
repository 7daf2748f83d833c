// ServerProtocol hooks for per-sender limits: SIZE= judged by the session, and a message size
// limit for one transaction (POLICY VI.1 with [[exceptions]]).
#include <doctest/doctest.h>

#include "server_protocol_driver.hpp"

using namespace test_support;
using Lines = std::vector<std::string>;

namespace {

ServerProtocol::Config config_with_max(std::uint64_t max) {
  ServerProtocol::Config config;
  config.hostname = "relay.example";
  config.max_message_size = max;
  return config;
}

std::string message_of(std::size_t octets) {
  std::string text;
  while (text.size() + 2 <= octets) {
    const std::size_t line = std::min<std::size_t>(octets - text.size() - 2, 70);
    text += std::string(line, 'x') + "\r\n";
  }
  return text;
}

}  // namespace

TEST_CASE("without refuse_declared_size an oversized SIZE= reaches the session as declared_size") {
  ServerProtocol::Config config = config_with_max(1000);
  config.refuse_declared_size = false;
  std::uint64_t declared = 0;
  const Decider decide = [&](const Action& action, const ServerProtocol&) -> std::optional<Reply> {
    if (action.kind == Kind::mail) {
      declared = action.declared_size;
      if (declared > 1000) {
        return Reply{552, "5.3.4", "Policy says no"};
      }
    }
    return std::nullopt;
  };
  CHECK(last_reply("MAIL FROM:<a@b.example> SIZE=5000\r\n", config, decide) ==
        "552 5.3.4 Policy says no");
  CHECK(declared == 5000);
  CHECK(last_reply("MAIL FROM:<a@b.example> SIZE=1000\r\n", config, decide) == "250 2.1.0 Ok");
  CHECK(declared == 1000);
  CHECK(last_reply("MAIL FROM:<a@b.example>\r\n", config, decide) == "250 2.1.0 Ok");
  CHECK(declared == 0);
  // The default still refuses in the protocol.
  CHECK(last_reply("MAIL FROM:<a@b.example> SIZE=1001\r\n", config_with_max(1000)) ==
        "552 5.3.4 Message size exceeds fixed limit of 1000 bytes");
}

TEST_CASE("limit_message_size lowers the limit of the current transaction only") {
  const std::string transaction =
      "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n" + message_of(600) + ".\r\n";

  ServerProtocol protocol(config_with_max(1000));
  protocol.take_output();
  protocol.feed("EHLO c.example\r\n" + transaction + transaction);
  std::vector<std::string> outcomes;
  int mails = 0;
  for (bool running = true; running;) {
    const Action action = protocol.next();
    switch (action.kind) {
      case Kind::need_input:
      case Kind::close:
      case Kind::starttls:
      case Kind::auth:
        running = false;
        break;
      case Kind::mail:
        protocol.resolve({250, "2.1.0", "Ok"});
        if (++mails == 1) {
          protocol.limit_message_size(500);  // this sender's limit
        }
        CHECK(protocol.message_size_limit() == (mails == 1 ? 500u : 1000u));
        break;
      case Kind::rcpt:
        protocol.resolve({250, "2.1.5", "Ok"});
        break;
      case Kind::data_start:
        protocol.resolve({354, "", "Go ahead"});
        break;
      case Kind::data_chunk:
        break;
      case Kind::data_end:
        outcomes.push_back(outcome_name(action.outcome));
        if (action.outcome == ServerProtocol::DataOutcome::too_big) {
          CHECK(action.suggested.to_log() ==
                "552 5.3.4 Message size exceeds fixed limit of 500 bytes");
        }
        protocol.resolve(action.outcome == ServerProtocol::DataOutcome::ok
                             ? Reply{250, "2.0.0", "Ok: queued as X"}
                             : action.suggested);
        CHECK(protocol.message_size_limit() == 1000);  // the transaction ended
        break;
    }
  }
  CHECK(outcomes == Lines{"too_big", "ok"});
}

TEST_CASE("EHLO advertises Config::max_message_size whatever a transaction's limit") {
  const Transcript t = run("EHLO c.example\r\n", config_with_max(5000));
  CHECK(t.replies[1] == "250-SIZE 5000");
}
