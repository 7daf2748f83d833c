#include "policy_relay/upstream/oauth2_token_source.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <chrono>

#include "policy_relay/log/log.hpp"
#include "policy_relay/tls/contexts.hpp"
#include "policy_relay/upstream/smtp_upstream.hpp"

namespace policy_relay::upstream {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace boost::asio::experimental::awaitable_operators;
using asio::ip::tcp;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxResponse = 64 * 1024;
using Clock = std::chrono::steady_clock;

class OAuth2TokenSource final : public TokenSource {
 public:
  OAuth2TokenSource(asio::any_io_executor executor, const config::UpstreamConfig& upstream)
      : executor_(std::move(executor)),
        client_id_(upstream.oauth2.client_id),
        client_secret_(read_secret_file(upstream.oauth2.client_secret_file,
                                        "upstream.oauth2.client_secret_file")),
        scope_(upstream.oauth2.scope),
        context_(tls::make_client_context(upstream.ca_file)),
        timeout_(upstream.connect_timeout),
        fetched_(executor_) {
    if (!parse_https_url(upstream.oauth2.token_url, url_)) {
      throw std::runtime_error("upstream.oauth2.token_url is not https://host[:port]/path");
    }
    fetched_.expires_at(asio::steady_timer::time_point::max());
  }

  asio::awaitable<std::optional<std::string>> token(std::string& error) override {
    for (;;) {
      if (!token_.empty() && Clock::now() < refresh_at_) {
        co_return token_;
      }
      if (!fetching_) {
        break;
      }
      co_await fetched_.async_wait(kTuple);  // cancelled when the fetch in flight ends
      if (!last_error_.empty() && token_.empty()) {
        error = last_error_;
        co_return std::nullopt;
      }
    }
    fetching_ = true;
    token_.clear();
    last_error_.clear();
    co_await fetch();
    fetching_ = false;
    fetched_.cancel();
    if (token_.empty()) {
      error = last_error_;
      co_return std::nullopt;
    }
    co_return token_;
  }

  void invalidate(const std::string& token) override {
    if (token == token_) {
      token_.clear();
    }
  }

 private:
  asio::awaitable<void> fetch();
  void take_response(const http::response<http::string_body>& response);

  asio::any_io_executor executor_;
  HttpsUrl url_;
  std::string client_id_;
  std::string client_secret_;
  std::string scope_;
  std::shared_ptr<asio::ssl::context> context_;
  config::Duration timeout_;
  asio::steady_timer fetched_;
  bool fetching_ = false;
  std::string token_;
  std::string last_error_;
  Clock::time_point refresh_at_{};
};

// One POST, every step under one deadline (upstream.connect_timeout).
asio::awaitable<void> OAuth2TokenSource::fetch() {
  const auto started = Clock::now();
  asio::steady_timer deadline(executor_);
  deadline.expires_after(timeout_);
  tcp::resolver resolver(executor_);
  auto resolved = co_await (resolver.async_resolve(url_.host, url_.port, kTuple) ||
                            deadline.async_wait(kTuple));
  if (resolved.index() == 1 || std::get<0>(std::get<0>(resolved))) {
    last_error_ = "cannot resolve " + url_.host;
    co_return;
  }
  const auto endpoints = std::get<1>(std::get<0>(resolved));
  asio::ssl::stream<tcp::socket> stream(executor_, *context_);
  if (!tls::expect_peer_name(stream.native_handle(), url_.host)) {
    last_error_ = "cannot check the name " + url_.host;
    co_return;
  }
  auto connected = co_await (asio::async_connect(stream.next_layer(), endpoints, kTuple) ||
                             deadline.async_wait(kTuple));
  if (connected.index() == 1 || std::get<0>(std::get<0>(connected))) {
    last_error_ = "cannot connect to " + url_.host + ":" + url_.port;
    co_return;
  }
  auto shaken = co_await (stream.async_handshake(asio::ssl::stream_base::client, kTuple) ||
                          deadline.async_wait(kTuple));
  if (shaken.index() == 1) {
    last_error_ = "TLS handshake with " + url_.host + " timed out";
    co_return;
  }
  if (const auto [error] = std::get<0>(shaken); error) {
    last_error_ = "TLS with " + url_.host +
                  " failed: " + tls::describe_failure(stream.native_handle(), error);
    co_return;
  }
  http::request<http::string_body> request{http::verb::post, url_.target, 11};
  request.set(http::field::host, url_.host);
  request.set(http::field::content_type, "application/x-www-form-urlencoded");
  request.set(http::field::accept, "application/json");
  request.body() = "grant_type=client_credentials&client_id=" + form_encode(client_id_) +
                   "&client_secret=" + form_encode(client_secret_) +
                   "&scope=" + form_encode(scope_);
  request.prepare_payload();
  auto written =
      co_await (http::async_write(stream, request, kTuple) || deadline.async_wait(kTuple));
  OPENSSL_cleanse(request.body().data(), request.body().size());
  if (written.index() == 1 || std::get<0>(std::get<0>(written))) {
    last_error_ = "cannot send the token request to " + url_.host;
    co_return;
  }
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponse);
  auto read =
      co_await (http::async_read(stream, buffer, parser, kTuple) || deadline.async_wait(kTuple));
  if (read.index() == 1 || std::get<0>(std::get<0>(read))) {
    last_error_ = "no complete answer from " + url_.host;
    co_return;
  }
  take_response(parser.get());
  boost::system::error_code ignored;
  stream.next_layer().close(ignored);
  log::Event("oauth2_token", token_.empty() ? log::Level::warn : log::Level::info)
      .add("endpoint", url_.host)
      .add("status", static_cast<int>(parser.get().result_int()))
      .add("ok", !token_.empty())
      .add("ms", static_cast<std::int64_t>(
                     std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started)
                         .count()))
      .add("error", last_error_);
}

void OAuth2TokenSource::take_response(const http::response<http::string_body>& response) {
  boost::system::error_code error;
  const boost::json::value json = boost::json::parse(response.body(), error);
  const boost::json::object* object = error ? nullptr : json.if_object();
  if (response.result_int() != 200 || object == nullptr) {
    std::string reason;
    if (object != nullptr && object->contains("error") && (*object).at("error").is_string()) {
      reason = std::string((*object).at("error").as_string());  // RFC 6749 5.2, e.g. invalid_client
    }
    last_error_ = "token endpoint answered HTTP " + std::to_string(response.result_int()) +
                  (reason.empty() ? "" : " " + reason.substr(0, 64));
    return;
  }
  const auto* token = object->if_contains("access_token");
  const auto* expires = object->if_contains("expires_in");
  if (token == nullptr || !token->is_string() || token->as_string().empty()) {
    last_error_ = "token endpoint answer has no access_token";
    return;
  }
  std::int64_t lifetime = 3600;
  if (expires != nullptr && expires->is_int64()) {
    lifetime = expires->as_int64();
  } else if (expires != nullptr && expires->is_string()) {
    lifetime = std::atoll(expires->as_string().c_str());  // Azure AD v1 sends a string
  }
  if (lifetime <= 0) {
    last_error_ = "token endpoint answer has no usable expires_in";
    return;
  }
  token_ = std::string(token->as_string());
  refresh_at_ = Clock::now() + token_use_time(std::chrono::seconds(lifetime));
}

}  // namespace

bool parse_https_url(std::string_view url, HttpsUrl& out) {
  constexpr std::string_view scheme = "https://";
  if (!url.starts_with(scheme)) {
    return false;
  }
  url.remove_prefix(scheme.size());
  const std::size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  out.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  const std::size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
    out.port = std::string(authority.substr(colon + 1));
    authority = authority.substr(0, colon);
    if (out.port.empty() || out.port.find_first_not_of("0123456789") != std::string::npos) {
      return false;
    }
  }
  out.host = std::string(authority);
  return !out.host.empty() && out.host.find_first_of("@ ") == std::string::npos;
}

std::string form_encode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : value) {
    const auto octet = static_cast<unsigned char>(c);
    if (std::isalnum(octet) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[octet >> 4];
      out += kHex[octet & 15];
    }
  }
  return out;
}

std::chrono::seconds token_use_time(std::chrono::seconds lifetime) {
  return lifetime - std::min(std::chrono::seconds(60), lifetime / 5);
}

std::shared_ptr<TokenSource> make_oauth2_token_source(asio::any_io_executor executor,
                                                      const config::UpstreamConfig& upstream) {
  return std::make_shared<OAuth2TokenSource>(std::move(executor), upstream);
}

}  // namespace policy_relay::upstream
