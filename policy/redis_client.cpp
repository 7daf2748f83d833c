#include "policy_relay/policy/redis_client.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace asio = boost::asio;

namespace policy_relay::policy {

namespace {

class RedisCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "redis"; }
  std::string message(int value) const override {
    switch (static_cast<RedisError>(value)) {
      case RedisError::not_connected:
        return "not connected to Redis";
      case RedisError::timeout:
        return "no reply from Redis in time";
      case RedisError::connection_lost:
        return "connection to Redis lost";
      case RedisError::server_error:
        return "Redis replied with an error";
    }
    return "unknown Redis error";
  }
};

RedisValue convert(const redisReply& reply) {
  RedisValue value;
  switch (reply.type) {
    case REDIS_REPLY_INTEGER:
      value.type = RedisValue::Type::integer;
      value.integer = reply.integer;
      break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      value.type = reply.type == REDIS_REPLY_STRING   ? RedisValue::Type::string
                   : reply.type == REDIS_REPLY_STATUS ? RedisValue::Type::status
                                                      : RedisValue::Type::error;
      value.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_ARRAY:
      value.type = RedisValue::Type::array;
      value.elements.reserve(reply.elements);
      for (std::size_t i = 0; i < reply.elements; ++i) {
        value.elements.push_back(convert(*reply.element[i]));
      }
      break;
    default:
      break;
  }
  return value;
}

}  // namespace

const std::error_category& redis_category() {
  static const RedisCategory category;
  return category;
}

std::error_code make_error_code(RedisError error) {
  return {static_cast<int>(error), redis_category()};
}

// One connection attempt: the hiredis context and the Asio descriptor that watches its socket.
// hiredis asks for read/write interest through the ev hooks; each is one async_wait at a time.
// Kept alive by the waits in flight, so a context freed under a pending wait harms nobody.
struct RedisClient::Link : std::enable_shared_from_this<Link> {
  explicit Link(const asio::any_io_executor& executor) : descriptor(executor), executor(executor) {}

  redisAsyncContext* context = nullptr;
  asio::posix::stream_descriptor descriptor;
  asio::any_io_executor executor;
  RedisClient* owner = nullptr;  // null once the client gave this link up
  RedisError pending_error = RedisError::connection_lost;
  bool want_read = false;
  bool want_write = false;
  bool reading = false;
  bool writing = false;

  void arm(bool read) {
    bool& busy = read ? reading : writing;
    if (busy || context == nullptr || !descriptor.is_open() || !(read ? want_read : want_write)) {
      return;
    }
    busy = true;
    const auto type =
        read ? asio::posix::descriptor_base::wait_read : asio::posix::descriptor_base::wait_write;
    descriptor.async_wait(type, [self = shared_from_this(), read](boost::system::error_code ec) {
      (read ? self->reading : self->writing) = false;
      if (ec || self->context == nullptr) {
        return;
      }
      if (read ? self->want_read : self->want_write) {
        // May free the context (EOF, error): cleanup() then clears `context`.
        read ? redisAsyncHandleRead(self->context) : redisAsyncHandleWrite(self->context);
      }
      self->arm(read);
    });
  }

  static Link* of(void* data) { return static_cast<Link*>(data); }
  static void add_read(void* data) {
    of(data)->want_read = true;
    of(data)->arm(true);
  }
  static void del_read(void* data) { of(data)->want_read = false; }
  static void add_write(void* data) {
    of(data)->want_write = true;
    of(data)->arm(false);
  }
  static void del_write(void* data) { of(data)->want_write = false; }
  static void cleanup(void* data) {
    Link* link = of(data);
    link->context = nullptr;
    link->want_read = link->want_write = false;
    if (link->descriptor.is_open()) {
      link->descriptor.release();  // hiredis closes the socket itself
    }
  }
};

namespace {

struct Request {
  RedisClient::Done done;
};

void post_done(const asio::any_io_executor& executor, RedisClient::Done done, std::error_code error,
               RedisValue value) {
  asio::post(executor, [done = std::move(done), error, value = std::move(value)]() mutable {
    done(error, std::move(value));
  });
}

}  // namespace

RedisClient::RedisClient(asio::any_io_executor executor, Options options, StateHandler on_state)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      on_state_(std::move(on_state)),
      backoff_(options_.backoff_min),
      tick_(executor_),
      reconnect_(executor_) {}

RedisClient::~RedisClient() {
  close();
  *alive_ = false;
}

void RedisClient::start() {
  if (state_ == State::idle || state_ == State::down) {
    connect();
  }
}

void RedisClient::close() {
  if (state_ == State::closed) {
    return;
  }
  state_ = State::closed;
  tick_.cancel();
  reconnect_.cancel();
  if (link_) {
    link_->owner = nullptr;
    redisAsyncContext* context = link_->context;
    link_.reset();
    if (context != nullptr) {
      redisAsyncFree(context);  // commands in flight complete with connection_lost
    }
  }
  in_flight_.clear();
  for (auto& waiting : waiting_) {
    complete(std::move(waiting.done), RedisError::not_connected, {});
  }
  waiting_.clear();
}

void RedisClient::complete(Done done, std::error_code error, RedisValue value) {
  if (done) {
    post_done(executor_, std::move(done), error, std::move(value));
  }
}

void RedisClient::connect() {
  const RedisEndpoint& endpoint = options_.endpoint;
  redisAsyncContext* context = endpoint.unix_path.empty()
                                   ? redisAsyncConnect(endpoint.host.c_str(), endpoint.port)
                                   : redisAsyncConnectUnix(endpoint.unix_path.c_str());
  if (context == nullptr || context->err != 0) {
    const std::string why = context ? context->errstr : "out of memory";
    if (context != nullptr) {
      redisAsyncFree(context);
    }
    state_ = State::connecting;  // so that fail() reports and schedules the retry
    fail("cannot connect: " + why, RedisError::not_connected);
    return;
  }
  auto link = std::make_shared<Link>(executor_);
  link->context = context;
  link->owner = this;
  boost::system::error_code ec;
  link->descriptor.assign(context->c.fd, ec);
  context->data = link.get();
  context->ev.data = link.get();
  context->ev.addRead = &Link::add_read;
  context->ev.delRead = &Link::del_read;
  context->ev.addWrite = &Link::add_write;
  context->ev.delWrite = &Link::del_write;
  context->ev.cleanup = &Link::cleanup;
  link_ = link;
  state_ = State::connecting;
  connect_deadline_ = std::chrono::steady_clock::now() + options_.connect_timeout;
  redisAsyncSetConnectCallback(context, [](const redisAsyncContext* c, int status) {
    Link* link = Link::of(c->data);
    if (link->owner != nullptr) {
      link->owner->on_connected(status);
    }
  });
  redisAsyncSetDisconnectCallback(context, [](const redisAsyncContext* c, int) {
    Link* link = Link::of(c->data);
    if (link->owner != nullptr) {
      link->owner->on_disconnected(c->errstr[0] != '\0' ? c->errstr : "closed by the server");
    }
  });
  schedule_tick();
  if (ec) {
    fail("cannot watch the socket: " + ec.message(), RedisError::not_connected);
  }
}

void RedisClient::on_connected(int status) {
  if (status != REDIS_OK) {
    // hiredis frees the context after this callback: only forget it here.
    const std::string why = link_ && link_->context ? link_->context->errstr : "connect failed";
    link_->owner = nullptr;
    link_.reset();
    fail("cannot connect: " + why, RedisError::not_connected);
    return;
  }
  handshake();
}

void RedisClient::on_disconnected(const std::string& why) {
  link_->owner = nullptr;
  link_.reset();  // hiredis is freeing the context
  fail(why, RedisError::connection_lost);
}

// AUTH and SELECT when configured, then PING: the connection is ready once all have answered.
void RedisClient::handshake() {
  auto failure = std::make_shared<std::string>();
  const std::weak_ptr<Link> attempt = link_;
  auto step = [failure](std::string name) {
    return [failure, name = std::move(name)](std::error_code error, RedisValue value) {
      if ((error || value.is_error()) && failure->empty()) {
        *failure = name + ": " + (value.is_error() ? value.text : error.message());
      }
    };
  };
  if (!options_.password.empty()) {
    dispatch({"AUTH", options_.password}, step("AUTH"));
  }
  if (options_.endpoint.database != 0) {
    dispatch({"SELECT", std::to_string(options_.endpoint.database)}, step("SELECT"));
  }
  dispatch({"PING"}, [this, alive = alive_, attempt, failure, last = step("PING")](
                         std::error_code error, RedisValue value) {
    last(error, value);
    if (!*alive || state_ != State::connecting || attempt.lock() != link_) {
      return;  // an older attempt's answer
    }
    if (!failure->empty()) {
      fail(*failure, RedisError::not_connected);
      return;
    }
    state_ = State::ready;
    backoff_ = options_.backoff_min;
    std::deque<Waiting> waiting;
    waiting.swap(waiting_);
    for (auto& command : waiting) {
      dispatch(std::move(command.argv), std::move(command.done));
    }
    if (on_state_) {
      on_state_(true, "");
    }
  });
}

void RedisClient::fail(const std::string& why, RedisError pending_error) {
  if (state_ == State::closed || state_ == State::down || state_ == State::idle) {
    return;
  }
  if (link_) {
    link_->owner = nullptr;
    link_->pending_error = pending_error;
    redisAsyncContext* context = link_->context;
    link_.reset();
    if (context != nullptr) {
      redisAsyncFree(context);
    }
  }
  in_flight_.clear();
  state_ = State::down;
  for (auto& waiting : waiting_) {
    complete(std::move(waiting.done), RedisError::not_connected, {});
  }
  waiting_.clear();
  reconnect_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, options_.backoff_max);
  reconnect_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (*alive && !ec && state_ == State::down) {
      connect();
    }
  });
  if (on_state_) {
    on_state_(false, why);
  }
}

void RedisClient::schedule_tick() {
  if (ticking_) {
    return;
  }
  ticking_ = true;
  const auto shortest = std::min(options_.connect_timeout, options_.command_timeout);
  tick_.expires_after(std::max(std::chrono::milliseconds(10), shortest / 4));
  tick_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (!*alive) {
      return;
    }
    ticking_ = false;
    if (!ec) {
      on_tick();
    }
  });
}

void RedisClient::on_tick() {
  const auto now = std::chrono::steady_clock::now();
  if (state_ == State::connecting) {
    if (now >= connect_deadline_) {
      fail("no connection within the connect timeout", RedisError::timeout);
      return;
    }
    schedule_tick();
  } else if (state_ == State::ready && !in_flight_.empty()) {
    if (now >= in_flight_.front()) {
      fail("no reply within the command timeout", RedisError::timeout);
      return;
    }
    schedule_tick();
  }
}

void RedisClient::send(std::vector<std::string> argv, Done done) {
  switch (state_) {
    case State::ready:
      dispatch(std::move(argv), std::move(done));
      return;
    case State::connecting:
      if (waiting_.size() < options_.max_waiting) {
        waiting_.push_back({std::move(argv), std::move(done)});
        return;
      }
      break;
    default:
      break;
  }
  complete(std::move(done), RedisError::not_connected, {});
}

void RedisClient::dispatch(std::vector<std::string> argv, Done done) {
  if (!link_ || link_->context == nullptr) {
    complete(std::move(done), RedisError::not_connected, {});
    return;
  }
  std::vector<const char*> pointers;
  std::vector<std::size_t> lengths;
  pointers.reserve(argv.size());
  lengths.reserve(argv.size());
  for (const auto& argument : argv) {
    pointers.push_back(argument.data());
    lengths.push_back(argument.size());
  }
  auto* request = new Request{std::move(done)};
  const auto on_reply = [](redisAsyncContext* context, void* raw, void* data) {
    std::unique_ptr<Request> request(static_cast<Request*>(data));
    Link* link = Link::of(context->data);
    RedisClient* owner = link->owner;
    if (raw == nullptr) {  // the context is being freed with this command unanswered
      if (request->done) {
        post_done(link->executor, std::move(request->done), link->pending_error, {});
      }
      return;
    }
    RedisValue value = convert(*static_cast<redisReply*>(raw));
    if (owner != nullptr && !owner->in_flight_.empty()) {
      owner->in_flight_.pop_front();
    }
    if (request->done) {
      const std::error_code error =
          value.is_error() ? make_error_code(RedisError::server_error) : std::error_code{};
      post_done(link->executor, std::move(request->done), error, std::move(value));
    }
  };
  if (redisAsyncCommandArgv(link_->context, on_reply, request, static_cast<int>(argv.size()),
                            pointers.data(), lengths.data()) != REDIS_OK) {
    Done failed = std::move(request->done);
    delete request;
    complete(std::move(failed), RedisError::not_connected, {});
    return;
  }
  in_flight_.push_back(std::chrono::steady_clock::now() + options_.command_timeout);
  schedule_tick();
}

asio::awaitable<std::pair<std::error_code, RedisValue>> RedisClient::command(
    std::vector<std::string> argv) {
  using Result = std::pair<std::error_code, RedisValue>;
  return asio::async_initiate<decltype(asio::use_awaitable), void(Result)>(
      [this](auto handler, std::vector<std::string> argv) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        send(std::move(argv), [shared](std::error_code error, RedisValue value) {
          (*shared)(Result{error, std::move(value)});
        });
      },
      asio::use_awaitable, std::move(argv));
}

}  // namespace policy_relay::policy
