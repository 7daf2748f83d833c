#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "policy_relay/policy/redis_endpoint.hpp"

// One pipelined connection to Redis on the event loop: hiredis's async context driven by Asio
// readiness waits on its socket (no blocking call on the loop: the address is an IP literal or
// a Unix socket, so no name lookup either). Every wait has a deadline: the connect and its
// handshake (AUTH, SELECT) take at most connect_timeout, and a command whose reply has not come
// within command_timeout breaks the connection (replies are ordered, so one late reply holds
// every later one): its command and every one behind it fail with `timeout`. A broken or
// refused connection is retried with exponential backoff (backoff_min doubling to backoff_max).
// Single-threaded: every call on the executor's thread.
namespace policy_relay::policy {

struct RedisValue {
  enum class Type { nil, integer, string, status, error, array };
  Type type = Type::nil;
  long long integer = 0;
  std::string text;  // string, status, error
  std::vector<RedisValue> elements;
  bool is_error() const { return type == Type::error; }
};

enum class RedisError {
  not_connected = 1,  // down (waiting to reconnect) or closed: nothing was sent
  timeout,            // no reply within command_timeout (the command may have run)
  connection_lost,    // the connection broke with the command in flight (it may have run)
  server_error,       // Redis answered with an error reply
};
const std::error_category& redis_category();
std::error_code make_error_code(RedisError error);

struct RedisClientOptions {
  RedisEndpoint endpoint;
  std::string password;  // AUTH after connect when not empty
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds command_timeout{2000};
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5000};
  std::size_t max_waiting = 10000;  // commands held while the first connect is in progress
};

class RedisClient {
 public:
  using Options = RedisClientOptions;
  // Runs on the executor, never inside the call that sent the command.
  using Done = std::function<void(std::error_code, RedisValue)>;
  // true once a connection is ready (after its handshake); false with the reason when a
  // connect attempt fails or a ready connection breaks.
  using StateHandler = std::function<void(bool up, const std::string& why)>;

  RedisClient(boost::asio::any_io_executor executor, Options options, StateHandler on_state = {});
  ~RedisClient();  // like close()
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  void start();  // connects now, and again after every failure
  // Drops the connection for good: commands in flight fail with connection_lost, later ones
  // with not_connected. Call it while the executor's io_context still exists.
  void close();
  bool ready() const { return state_ == State::ready; }

  // Sends one command behind those in flight. While a connect is in progress it waits for it
  // (up to connect_timeout); while down it fails at once with not_connected.
  void send(std::vector<std::string> argv, Done done);
  boost::asio::awaitable<std::pair<std::error_code, RedisValue>> command(
      std::vector<std::string> argv);

 private:
  struct Link;
  enum class State { idle, connecting, ready, down, closed };
  struct Waiting {
    std::vector<std::string> argv;
    Done done;
  };

  void connect();
  void handshake();
  void dispatch(std::vector<std::string> argv, Done done);
  void fail(const std::string& why, RedisError pending_error);
  void schedule_tick();
  void on_tick();
  void on_connected(int status);
  void on_disconnected(const std::string& why);
  void complete(Done done, std::error_code error, RedisValue value);

  boost::asio::any_io_executor executor_;
  Options options_;
  StateHandler on_state_;
  State state_ = State::idle;
  std::shared_ptr<Link> link_;
  std::deque<Waiting> waiting_;
  // Deadlines of the commands in flight, oldest first (replies come in order).
  std::deque<std::chrono::steady_clock::time_point> in_flight_;
  std::chrono::steady_clock::time_point connect_deadline_{};
  std::chrono::milliseconds backoff_{0};
  boost::asio::steady_timer tick_;
  boost::asio::steady_timer reconnect_;
  bool ticking_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace policy_relay::policy

template <>
struct std::is_error_code_enum<policy_relay::policy::RedisError> : std::true_type {};
