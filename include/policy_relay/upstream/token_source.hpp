#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

namespace policy_relay::upstream {

// Access tokens for XOAUTH2 (the OAuth 2.0 client-credentials flow, RFC 6749 4.4).
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // A token valid for a while yet (cached), or nullopt with `error` saying why (logged, the
  // message stays queued). Never logs the token or the client secret.
  virtual boost::asio::awaitable<std::optional<std::string>> token(std::string& error) = 0;
  // The upstream refused this token (535): the next token() fetches a new one.
  virtual void invalidate(const std::string& token) = 0;
};

}  // namespace policy_relay::upstream
