#pragma once

#include <string>
#include <string_view>

namespace policy_relay::smtp {

// One SMTP reply: basic code (RFC 5321 4.2), enhanced status code (RFC 3463, "" for none, e.g.
// the greeting) and human text. The text may hold several lines separated by '\n'; to_wire()
// renders them as a multi-line reply ("250-...\r\n250 ...\r\n"), the enhanced code on each line.
struct Reply {
  int code = 0;
  std::string enhanced;
  std::string text;

  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }

  std::string to_wire() const;
  // "250 2.0.0 Ok" on one line, for logs (lines joined with "; ").
  std::string to_log() const;
};

}  // namespace policy_relay::smtp
