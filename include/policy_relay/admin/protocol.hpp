#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// The admin socket's protocol (policy-relayctl <-> policy-relayd): JSON lines, sans-I/O.
//   request:  {"command": "queue.show", "args": {"id": "..."}}\n
//   response: {"ok": true, "result": {...}}\n  or  {"ok": false, "error": "why"}\n
// A request is one line of at most kMaxRequestSize octets; the server answers each line in
// order and closes after kMaxRequestsPerConnection of them or on any malformed line.
namespace policy_relay::admin {

inline constexpr std::size_t kMaxRequestSize = 64 * 1024;
inline constexpr std::size_t kMaxRequestsPerConnection = 100;

struct Request {
  std::string command;
  boost::json::object args;
};

// The request in `line` (without its '\n'), or nullopt with `error` set.
std::optional<Request> parse_request(std::string_view line, std::string& error);

std::string ok_response(const boost::json::value& result);
std::string error_response(std::string_view error);

// A handler's answer: a result, or an error text for the operator (ctl exits non-zero).
struct Reply {
  bool ok = true;
  boost::json::value result;
  std::string error;

  static Reply success(boost::json::value result) { return {true, std::move(result), {}}; }
  static Reply failure(std::string error) { return {false, nullptr, std::move(error)}; }
};

// Typed access to a request's arguments; each returns nullopt / the error when absent or of
// the wrong type.
std::optional<std::string> string_arg(const boost::json::object& args, std::string_view name);

class Dispatcher {
 public:
  using Handler = std::function<boost::asio::awaitable<Reply>(const boost::json::object& args)>;

  void add(std::string command, Handler handler);
  // One request line in, one response line out ('\n'-terminated). Unknown commands and
  // malformed lines get an error response; handlers' exceptions become error responses too.
  boost::asio::awaitable<std::string> handle(std::string_view line) const;
  std::vector<std::string> commands() const;

 private:
  std::map<std::string, Handler, std::less<>> handlers_;
};

}  // namespace policy_relay::admin
