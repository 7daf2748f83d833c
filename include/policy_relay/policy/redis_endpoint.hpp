#pragma once

#include <cstdint>
#include <string>
#include <string_view>

// Where the Redis of [state] backend = "redis" is (issue 7): state.redis_url parsed.
namespace policy_relay::policy {

struct RedisEndpoint {
  std::string host = "127.0.0.1";  // an IP address (never resolved)
  std::uint16_t port = 6379;
  std::string unix_path;  // when not empty: a Unix socket instead of host:port
  unsigned database = 0;
};

// "redis://IP:PORT[/DB]", "redis://[IPv6]:PORT[/DB]", "unix:/PATH[?db=N]" (also "unix:///PATH").
// Returns "" and fills `out`, or what is wrong. Passwords belong in a file, never in the URL.
std::string parse_redis_url(std::string_view url, RedisEndpoint& out);
std::string describe(const RedisEndpoint& endpoint);

}  // namespace policy_relay::policy
