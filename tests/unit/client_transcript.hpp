#pragma once

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "policy_relay/smtp/client_protocol.hpp"

// Plays an SMTP client transcript against smtp::ClientProtocol.
//   "S: text"  a server reply line (CRLF appended); consecutive S lines are fed at once
//   "C: text"  a line the client must have sent before the next S group is fed
//   "C: <body>" where the message body goes (the driver calls body_sent())
// Whenever the protocol is ready the driver starts the next message, then says QUIT.
namespace transcript {

using policy_relay::smtp::ClientProtocol;
using policy_relay::smtp::Reply;

inline std::string one_line(const Reply& reply) {
  std::string line = std::to_string(reply.code);
  if (!reply.enhanced.empty()) {
    line += " " + reply.enhanced;
  }
  if (!reply.text.empty()) {
    line += " " + reply.text;
  }
  return line;
}

struct Outcome {
  std::vector<std::vector<std::string>> results;  // per message, one_line() per recipient
  std::string failure;
  std::string client_output;
};

inline ClientProtocol::Message message(std::vector<std::string> recipients,
                                       std::uint64_t size = 100) {
  ClientProtocol::Message m;
  m.sender = "a@x.test";
  m.recipients = std::move(recipients);
  m.size = size;
  return m;
}

inline Outcome play(const std::vector<std::string>& script,
                    std::vector<ClientProtocol::Message> messages,
                    ClientProtocol::Config config = {.helo_hostname = "relay.test"}) {
  ClientProtocol protocol(config);
  protocol.set_auth_secret("s3cret");
  Outcome outcome;
  std::string expected;
  std::size_t line = 0;
  std::size_t next_message = 0;
  bool quit_sent = false;
  bool message_open = false;
  auto take_client_lines = [&] {
    while (line < script.size() && script[line].starts_with("C: ")) {
      expected += script[line].substr(3) + "\r\n";
      ++line;
    }
  };
  for (int steps = 0; steps < 10000; ++steps) {
    const auto action = protocol.next();
    outcome.client_output += protocol.take_output();
    switch (action.kind) {
      case ClientProtocol::Action::Kind::need_input: {
        take_client_lines();
        REQUIRE(outcome.client_output == expected);
        if (line == script.size()) {
          protocol.end_of_input();
          break;
        }
        std::string group;
        while (line < script.size() && script[line].starts_with("S: ")) {
          group += script[line].substr(3) + "\r\n";
          ++line;
        }
        protocol.feed(group);
        break;
      }
      case ClientProtocol::Action::Kind::ready:
        if (next_message < messages.size()) {
          protocol.start_message(messages[next_message++]);
          message_open = true;
        } else {
          REQUIRE_FALSE(quit_sent);
          protocol.quit();
          quit_sent = true;
        }
        break;
      case ClientProtocol::Action::Kind::start_tls:  // the handshake succeeds
        outcome.client_output += "<tls>\r\n";
        protocol.tls_started();
        break;
      case ClientProtocol::Action::Kind::send_body:
        outcome.client_output += "<body>\r\n";
        protocol.body_sent();
        break;
      case ClientProtocol::Action::Kind::message_done: {
        std::vector<std::string> results;
        for (const Reply& reply : protocol.results()) {
          results.push_back(one_line(reply));
        }
        outcome.results.push_back(std::move(results));
        message_open = false;
        break;
      }
      case ClientProtocol::Action::Kind::closed:
        if (message_open) {
          std::vector<std::string> results;
          for (const Reply& reply : protocol.results()) {
            results.push_back(one_line(reply));
          }
          outcome.results.push_back(std::move(results));
        }
        take_client_lines();
        CHECK(outcome.client_output == expected);
        CHECK(line == script.size());
        outcome.failure = protocol.failure();
        return outcome;
    }
  }
  FAIL("the transcript did not end");
  return outcome;
}

}  // namespace transcript
