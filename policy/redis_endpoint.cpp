#include "policy_relay/policy/redis_endpoint.hpp"

#include <charconv>
#include <system_error>

namespace policy_relay::policy {

namespace {

bool parse_unsigned(std::string_view text, unsigned max, unsigned& out) {
  if (text.empty() || text.size() > 5) {
    return false;
  }
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc{} && end == text.data() + text.size() && out <= max;
}

}  // namespace

std::string parse_redis_url(std::string_view url, RedisEndpoint& out) {
  RedisEndpoint endpoint;
  if (url.starts_with("unix:")) {
    std::string_view rest = url.substr(5);
    if (rest.starts_with("//")) {
      rest.remove_prefix(2);
    }
    const auto query = rest.find('?');
    endpoint.unix_path = std::string(rest.substr(0, query));
    if (endpoint.unix_path.empty() || endpoint.unix_path.front() != '/') {
      return "a Unix socket URL is written \"unix:/run/redis/redis.sock?db=0\"";
    }
    if (query != std::string_view::npos) {
      const std::string_view parameter = rest.substr(query + 1);
      if (!parameter.starts_with("db=") ||
          !parse_unsigned(parameter.substr(3), 65535, endpoint.database)) {
        return "the only parameter of a Unix socket URL is \"?db=N\"";
      }
    }
    out = std::move(endpoint);
    return "";
  }
  if (!url.starts_with("redis://")) {
    return "expected \"redis://IP:PORT/DB\" or \"unix:/PATH?db=N\"";
  }
  std::string_view rest = url.substr(8);
  if (rest.find('@') != std::string_view::npos) {
    return "no password in the URL: put it in state.redis_password_file";
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos && slash + 1 < rest.size() &&
      !parse_unsigned(rest.substr(slash + 1), 65535, endpoint.database)) {
    return "the database after '/' must be a number";
  }
  std::string_view port;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return "an IPv6 address is written in brackets: \"redis://[::1]:6379/0\"";
    }
    endpoint.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    if (authority.starts_with(':')) {
      port = authority.substr(1);
    } else if (!authority.empty()) {
      return "expected ':PORT' after the IPv6 address";
    }
  } else {
    const auto colon = authority.find(':');
    endpoint.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
    }
  }
  unsigned port_number = 6379;
  if (!port.empty() && (!parse_unsigned(port, 65535, port_number) || port_number == 0)) {
    return "the port must be a number from 1 to 65535";
  }
  endpoint.port = static_cast<std::uint16_t>(port_number);
  const std::string& host = endpoint.host;
  const bool literal =
      !host.empty() && (host.find(':') != std::string::npos ||
                        host.find_first_not_of("0123456789.") == std::string::npos);
  if (!literal) {
    return "the host must be an IP address (names are not resolved, so no lookup blocks)";
  }
  out = std::move(endpoint);
  return "";
}

std::string describe(const RedisEndpoint& endpoint) {
  if (!endpoint.unix_path.empty()) {
    return "unix:" + endpoint.unix_path + "?db=" + std::to_string(endpoint.database);
  }
  const bool v6 = endpoint.host.find(':') != std::string::npos;
  return "redis://" + (v6 ? "[" + endpoint.host + "]" : endpoint.host) + ":" +
         std::to_string(endpoint.port) + "/" + std::to_string(endpoint.database);
}

}  // namespace policy_relay::policy
