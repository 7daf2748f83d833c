#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "policy_relay/config/config.hpp"
#include "policy_relay/upstream/token_source.hpp"

namespace policy_relay::upstream {

// "https://host[:port]/path" split; false when `url` is not of that form.
struct HttpsUrl {
  std::string host;
  std::string port = "443";
  std::string target = "/";
};
bool parse_https_url(std::string_view url, HttpsUrl& out);

// application/x-www-form-urlencoded value (RFC 6749 appendix B).
std::string form_encode(std::string_view value);

// How long a token is used: until `margin` before it expires, margin = min(60 s, lifetime/5),
// so a short-lived token is still refreshed before its end.
std::chrono::seconds token_use_time(std::chrono::seconds lifetime);

// [upstream.oauth2]: the client-credentials flow (RFC 6749 4.4) against token_url with
// Boost.Beast over TLS (verified against upstream.ca_file or the system store, host name
// checked). One request at a time; concurrent callers wait for it. The client secret is read
// from client_secret_file at start-up (throws std::runtime_error when it cannot be).
std::shared_ptr<TokenSource> make_oauth2_token_source(boost::asio::any_io_executor executor,
                                                      const config::UpstreamConfig& upstream);

}  // namespace policy_relay::upstream
