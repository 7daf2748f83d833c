#pragma once

// Test driver for smtp::ServerProtocol: plays the session's part (feeds input in pieces of a
// chosen size, answers decisions, stores data chunks) and records the transcript.

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy_relay/smtp/server_protocol.hpp"

namespace test_support {

using policy_relay::smtp::Reply;
using policy_relay::smtp::ServerProtocol;
using Action = ServerProtocol::Action;
using Kind = ServerProtocol::Action::Kind;

// Answers a decision; nullopt means "the default": accept (354 for DATA, the suggested reply
// for a message that is not whole).
using Decider = std::function<std::optional<Reply>(const Action&, const ServerProtocol&)>;

struct Transcript {
  std::vector<std::string> replies;  // reply lines without CRLF, the greeting left out
  std::vector<std::string> events;   // "mail <a@b>", "rcpt <c@d>", "data_start", "data_end ok 12"
  std::string message;               // every data chunk, concatenated
  std::vector<std::size_t> chunk_sizes;
  std::size_t max_buffered = 0;  // the largest buffered_octets() seen when input was asked for
  bool closed = false;
};

inline std::vector<std::string> split_reply_lines(std::string_view wire) {
  std::vector<std::string> lines;
  while (!wire.empty()) {
    const std::size_t end = wire.find("\r\n");
    lines.emplace_back(wire.substr(0, end));
    wire.remove_prefix(end == std::string_view::npos ? wire.size() : end + 2);
  }
  return lines;
}

inline const char* outcome_name(ServerProtocol::DataOutcome outcome) {
  switch (outcome) {
    case ServerProtocol::DataOutcome::ok:
      return "ok";
    case ServerProtocol::DataOutcome::too_big:
      return "too_big";
    case ServerProtocol::DataOutcome::bare_line_ending:
      return "bare_line_ending";
    case ServerProtocol::DataOutcome::line_too_long:
      return "line_too_long";
  }
  return "?";
}

inline Reply default_decision(const Action& action) {
  switch (action.kind) {
    case Kind::mail:
      return {250, "2.1.0", "Ok"};
    case Kind::rcpt:
      return {250, "2.1.5", "Ok"};
    case Kind::data_start:
      return {354, "", "End data with <CR><LF>.<CR><LF>"};
    case Kind::auth:
      return {235, "2.7.0", "Authentication successful"};
    default:
      break;
  }
  if (action.outcome != ServerProtocol::DataOutcome::ok) {
    return action.suggested;
  }
  return {250, "2.0.0", "Ok: queued as TEST"};
}

// Runs `input` through a fresh protocol, `piece` octets per feed(). With `hang_up` the peer
// closes its side once all input is fed.
inline Transcript run(std::string_view input, ServerProtocol::Config config = {},
                      std::size_t piece = std::string_view::npos, Decider decide = {},
                      bool hang_up = false) {
  ServerProtocol protocol(std::move(config));
  Transcript transcript;
  std::string output = protocol.take_output();  // the greeting
  std::size_t fed = 0;
  bool hung_up = false;
  for (bool running = true; running;) {
    const Action action = protocol.next();
    switch (action.kind) {
      case Kind::need_input:
        transcript.max_buffered = std::max(transcript.max_buffered, protocol.buffered_octets());
        output += protocol.take_output();
        if (fed < input.size()) {
          const std::string_view bytes = input.substr(fed, piece);
          fed += bytes.size();
          protocol.feed(bytes);
        } else if (hang_up && !hung_up) {
          hung_up = true;
          protocol.end_of_input();
        } else {
          running = false;
        }
        continue;
      case Kind::mail:
        transcript.events.push_back("mail <" + action.argument.path.address + ">");
        break;
      case Kind::rcpt:
        transcript.events.push_back("rcpt <" + action.argument.path.address + ">");
        break;
      case Kind::data_start:
        transcript.events.push_back("data_start");
        break;
      case Kind::data_chunk:
        transcript.message += action.data;
        transcript.chunk_sizes.push_back(action.data.size());
        continue;
      case Kind::data_end:
        transcript.events.push_back(std::string("data_end ") + outcome_name(action.outcome) + " " +
                                    std::to_string(protocol.message_size()));
        break;
      case Kind::starttls:  // the handshake succeeds at once
        transcript.events.push_back("starttls");
        output += protocol.take_output();
        protocol.tls_started();
        continue;
      case Kind::auth:
        transcript.events.push_back("auth " + protocol.credentials().username + ":" +
                                    protocol.credentials().password);
        break;
      case Kind::close:
        transcript.events.push_back("close");
        transcript.closed = true;
        running = false;
        continue;
    }
    std::optional<Reply> reply = decide ? decide(action, protocol) : std::nullopt;
    protocol.resolve(reply ? *reply : default_decision(action));
  }
  output += protocol.take_output();
  transcript.replies = split_reply_lines(output);
  transcript.replies.erase(transcript.replies.begin());  // the greeting
  return transcript;
}

// The reply lines a script gets after "EHLO client.example" (whose reply is left out).
inline std::vector<std::string> after_ehlo(std::string_view script,
                                           ServerProtocol::Config config = {},
                                           Decider decide = {}) {
  Transcript transcript = run("EHLO client.example\r\n" + std::string(script), config,
                              std::string_view::npos, std::move(decide));
  auto& replies = transcript.replies;
  const auto ehlo_end = std::find_if(replies.begin(), replies.end(),
                                     [](const std::string& line) { return line[3] == ' '; });
  replies.erase(replies.begin(), ehlo_end + 1);
  return replies;
}

inline std::string last_reply(std::string_view script, ServerProtocol::Config config = {},
                              Decider decide = {}) {
  const auto replies = after_ehlo(script, std::move(config), std::move(decide));
  return replies.empty() ? std::string("(none)") : replies.back();
}

}  // namespace test_support
