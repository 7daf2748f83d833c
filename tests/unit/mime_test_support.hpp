#pragma once

// Loading tests/corpus messages the way the spool holds them (CRLF line ends) and scanning
// them in pieces of a chosen size, so that every test also exercises the streaming.

#include <fstream>
#include <sstream>
#include <string>

#include "policy_relay/mime/message_scanner.hpp"

namespace test_support {

inline std::string corpus_message(const std::string& name) {
  std::ifstream file(std::string(POLICY_RELAY_SOURCE_DIR) + "/tests/corpus/" + name,
                     std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  std::string crlf;
  for (char c : text.str()) {
    if (c == '\n') {
      crlf += '\r';
    }
    crlf += c;
  }
  return crlf;
}

inline policy_relay::mime::MessageAnalysis scan(const std::string& message,
                                                std::size_t piece = 4096) {
  policy_relay::mime::MessageScanner scanner;
  for (std::size_t at = 0; at < message.size(); at += piece) {
    scanner.feed(std::string_view(message).substr(at, piece));
  }
  return scanner.finish();
}

}  // namespace test_support
