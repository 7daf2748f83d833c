#include "policy_relay/policy/redis_counter_store.hpp"

#include <boost/asio/use_awaitable.hpp>
#include <limits>
#include <random>

#include "redis_scripts.hpp"

namespace asio = boost::asio;

namespace policy_relay::policy {

namespace {

constexpr std::string_view kCounterNames[counter_count] = {"minute", "day", "releases"};

std::string_view script_text(int script) {
  switch (script) {
    case 0:
      return redis_scripts::reserve;
    case 1:
      return redis_scripts::commit;
    case 2:
      return redis_scripts::release;
    case 3:
      return redis_scripts::usage;
    default:
      return redis_scripts::count;
  }
}

std::string random_instance() {
  std::random_device device;
  const std::uint64_t value = (static_cast<std::uint64_t>(device()) << 32) ^ device();
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

long long element(const RedisValue& value, std::size_t index) {
  return index < value.elements.size() ? value.elements[index].integer : 0;
}

TimePoint unix_seconds(long long seconds) {
  return TimePoint(std::chrono::seconds(seconds));
}

bool well_formed(const RedisValue& value, std::size_t elements) {
  if (value.type != RedisValue::Type::array || value.elements.size() < elements) {
    return false;
  }
  for (const auto& item : value.elements) {
    if (item.type != RedisValue::Type::integer) {
      return false;
    }
  }
  return true;
}

// The reserve and count scripts' answer, {1, used} or {0, used, frees_at_unix_s (-1 = never)},
// when well formed.
std::optional<ReserveResult> check_answer(const RedisValue& value) {
  if (!well_formed(value, 2)) {
    return std::nullopt;
  }
  ReserveResult result;
  result.used = static_cast<std::uint64_t>(std::max(0ll, element(value, 1)));
  result.granted = element(value, 0) == 1;
  if (!result.granted) {
    const long long frees = element(value, 2);
    result.frees_at = frees < 0 ? TimePoint::max() : unix_seconds(frees);
  }
  return result;
}

}  // namespace

RedisCounterStore::RedisCounterStore(asio::any_io_executor executor, Options options)
    : executor_(std::move(executor)), options_(std::move(options)), instance_(random_instance()) {
  for (const auto& spec : options_.windows) {
    validate(spec);
  }
  client_ = std::make_unique<RedisClient>(
      executor_, options_.connection,
      [this](bool up, const std::string& why) { on_connection(up, why); });
}

RedisCounterStore::~RedisCounterStore() {
  close();
  *alive_ = false;
}

void RedisCounterStore::start() {
  if (client_) {
    client_->start();
  }
}

void RedisCounterStore::close() {
  if (client_) {
    client_->close();
    client_.reset();
  }
}

std::string RedisCounterStore::counter_key(std::string_view identity, Counter counter) const {
  // The identity in braces: a Redis Cluster hash tag, so both keys live on one node.
  std::string key = options_.key_prefix;
  key += '{';
  key += identity;
  key += "}:";
  key += kCounterNames[static_cast<std::size_t>(counter)];
  return key;
}

std::string RedisCounterStore::reservation_name(std::uint64_t id) const {
  return instance_ + "." + std::to_string(id);
}

std::string RedisCounterStore::mark_key(std::string_view name) const {
  return options_.key_prefix + "mark:" + std::string(name);
}

std::vector<std::string> RedisCounterStore::script_command(
    Script script, std::string_view identity, Counter counter, TimePoint now,
    std::initializer_list<std::string> arguments) const {
  const WindowSpec& spec = options_.windows[static_cast<std::size_t>(counter)];
  const auto index = static_cast<std::size_t>(script);
  const bool loaded = !shas_[index].empty();
  std::string key = counter_key(identity, counter);
  std::vector<std::string> command{
      loaded ? "EVALSHA" : "EVAL",
      loaded ? shas_[index] : std::string(script_text(static_cast<int>(index))),
      "2",
      key,
      key + ":leases",
      options_.server_time
          ? std::string()
          : std::to_string(
                std::chrono::floor<std::chrono::milliseconds>(now).time_since_epoch().count()),
      std::to_string(spec.resolution.count()),
      std::to_string(spec.window.count())};
  command.insert(command.end(), arguments);
  return command;
}

asio::awaitable<RedisCounterStore::Result> RedisCounterStore::run(
    std::vector<std::string> command) {
  if (!client_) {
    co_return Result{make_error_code(RedisError::not_connected), {}};
  }
  Result result = co_await client_->command(command);
  if (result.first == RedisError::server_error && result.second.text.starts_with("NOSCRIPT") &&
      client_) {
    // SCRIPT FLUSH or a restarted server: EVAL runs the text and loads it again.
    for (int script = 0; script < kScripts; ++script) {
      if (command[1] == shas_[script]) {
        shas_[script].clear();
        command[0] = "EVAL";
        command[1] = std::string(script_text(script));
      }
    }
    result = co_await client_->command(command);
  }
  if (result.first) {
    failed(result.second.is_error() ? result.second.text : result.first.message());
  } else {
    succeeded();
  }
  co_return result;
}

void RedisCounterStore::load_scripts() {
  for (int script = 0; script < kScripts; ++script) {
    client_->send({"SCRIPT", "LOAD", std::string(script_text(script))},
                  [this, alive = alive_, script](std::error_code error, RedisValue value) {
                    if (*alive && !error && value.type == RedisValue::Type::string) {
                      shas_[script] = value.text;
                    }
                  });
  }
}

void RedisCounterStore::on_connection(bool up, const std::string& why) {
  if (up) {
    load_scripts();
    succeeded();
  } else {
    failed(why);
  }
}

void RedisCounterStore::failed(const std::string& reason) {
  ++stats_.failures;
  ++outage_failures_;
  const auto now = std::chrono::steady_clock::now();
  if (!outage_) {
    outage_ = true;
    ++stats_.outages;
    last_alert_ = now;
    if (options_.report) {
      options_.report({RedisAlert::Kind::unavailable, reason, outage_failures_});
    }
  } else if (now - last_alert_ >= options_.alert_interval) {
    last_alert_ = now;
    if (options_.report) {
      options_.report({RedisAlert::Kind::still_unavailable, reason, outage_failures_});
    }
  }
}

void RedisCounterStore::succeeded() {
  ++stats_.operations;
  if (outage_) {
    outage_ = false;
    if (options_.report) {
      options_.report({RedisAlert::Kind::restored, "", outage_failures_});
    }
    outage_failures_ = 0;
  }
}

asio::awaitable<ReserveResult> RedisCounterStore::try_reserve(std::string_view key, Counter counter,
                                                              std::uint64_t amount,
                                                              std::uint64_t limit, TimePoint now) {
  const std::uint64_t id = next_reservation_++;
  auto command = script_command(
      Script::reserve, key, counter, now,
      {std::to_string(amount), std::to_string(std::min<std::uint64_t>(limit, 1ull << 52)),
       reservation_name(id), std::to_string(options_.reservation_ttl.count())});
  const Result reply = co_await run(std::move(command));
  const auto& [error, value] = reply;
  ReserveResult result;
  if (auto answer = error ? std::nullopt : check_answer(value)) {
    if (answer->granted) {
      answer->reservation = {id, std::string(key), counter, amount};
    }
    co_return *answer;
  }
  if (options_.fallback == nullptr) {
    result.error = error ? error : make_error_code(RedisError::server_error);
    co_return result;
  }
  ++stats_.fallbacks;
  result = co_await options_.fallback->try_reserve(key, counter, amount, limit, now);
  if (result.granted) {
    fallback_holds_.emplace(id, result.reservation);
    result.reservation.id = id;
  }
  co_return result;
}

asio::awaitable<ReserveResult> RedisCounterStore::try_count(std::string_view key, Counter counter,
                                                            std::uint64_t amount,
                                                            std::uint64_t limit, TimePoint now) {
  auto command = script_command(
      Script::count, key, counter, now,
      {std::to_string(amount), std::to_string(std::min<std::uint64_t>(limit, 1ull << 52))});
  const Result reply = co_await run(std::move(command));
  const auto& [error, value] = reply;
  ReserveResult result;
  if (auto answer = error ? std::nullopt : check_answer(value)) {
    co_return *answer;
  }
  if (options_.fallback == nullptr) {
    result.error = error ? error : make_error_code(RedisError::server_error);
    co_return result;
  }
  ++stats_.fallbacks;
  co_return co_await options_.fallback->try_count(key, counter, amount, limit, now);
}

asio::awaitable<std::error_code> RedisCounterStore::commit(Reservation& reservation,
                                                           TimePoint now) {
  if (!reservation) {
    co_return std::make_error_code(std::errc::invalid_argument);
  }
  const Reservation held = reservation;
  reservation.id = 0;
  if (const auto found = fallback_holds_.find(held.id); found != fallback_holds_.end()) {
    Reservation local = found->second;
    fallback_holds_.erase(found);
    ++stats_.fallbacks;
    co_return co_await options_.fallback->commit(local, now);
  }
  auto command = script_command(Script::commit, held.key, held.counter, now,
                                {std::to_string(held.amount), reservation_name(held.id)});
  const Result reply = co_await run(std::move(command));
  const std::error_code error = reply.first;
  if (!error) {
    co_return std::error_code{};
  }
  if (options_.fallback == nullptr) {
    co_return error;  // the message is not acknowledged (451 4.3.0)
  }
  // Counted here instead: never fewer units than were granted.
  ++stats_.fallbacks;
  auto local = co_await options_.fallback->try_reserve(
      held.key, held.counter, held.amount, std::numeric_limits<std::uint64_t>::max(), now);
  if (!local.granted) {
    co_return local.error ? local.error : error;
  }
  co_return co_await options_.fallback->commit(local.reservation, now);
}

void RedisCounterStore::release(Reservation& reservation) {
  if (!reservation) {
    return;
  }
  const Reservation held = reservation;
  reservation.id = 0;
  if (const auto found = fallback_holds_.find(held.id); found != fallback_holds_.end()) {
    options_.fallback->release(found->second);
    fallback_holds_.erase(found);
    return;
  }
  if (!client_ || !client_->ready()) {
    return;  // the hold ends with its lease
  }
  const int index = static_cast<int>(Script::release);
  auto command = script_command(Script::release, held.key, held.counter, TimePoint{},
                                {reservation_name(held.id)});
  command[5] = "";  // a release needs no time: nothing is pruned
  const bool by_sha = command[0] == "EVALSHA";
  client_->send(command, [this, alive = alive_, command, by_sha, index, client = client_.get()](
                             std::error_code error, RedisValue value) mutable {
    if (*alive && by_sha && error && value.text.starts_with("NOSCRIPT") &&
        client_.get() == client) {
      command[0] = "EVAL";
      command[1] = std::string(script_text(index));
      client_->send(std::move(command), {});
    }
  });
}

asio::awaitable<Usage> RedisCounterStore::usage(std::string_view key, Counter counter,
                                                TimePoint now) {
  auto command = script_command(Script::usage, key, counter, now, {});
  const Result reply = co_await run(std::move(command));
  const auto& [error, value] = reply;
  if (!error && well_formed(value, 2)) {
    Usage usage;
    usage.used = static_cast<std::uint64_t>(std::max(0ll, element(value, 0)));
    if (element(value, 1) > 0) {
      usage.next_free = unix_seconds(element(value, 1));
    }
    co_return usage;
  }
  if (options_.fallback != nullptr) {
    ++stats_.fallbacks;
    co_return co_await options_.fallback->usage(key, counter, now);
  }
  co_return Usage{};
}

asio::awaitable<MarkResult> RedisCounterStore::put_mark(std::string_view name,
                                                        std::string_view value,
                                                        std::chrono::seconds ttl,
                                                        bool only_if_absent, TimePoint now) {
  std::vector<std::string> command{"SET", mark_key(name), std::string(value)};
  if (ttl.count() > 0) {
    command.insert(command.end(), {"PX", std::to_string(ttl.count() * 1000)});
  }
  if (only_if_absent) {
    command.emplace_back("NX");
  }
  const Result result = co_await run(std::move(command));
  const auto& [error, reply] = result;
  if (!error) {
    co_return MarkResult{reply.type == RedisValue::Type::status, {}};
  }
  if (options_.fallback != nullptr) {
    ++stats_.fallbacks;
    co_return co_await options_.fallback->put_mark(name, value, ttl, only_if_absent, now);
  }
  co_return MarkResult{false, error};
}

asio::awaitable<MarkLookup> RedisCounterStore::get_mark(std::string_view name, TimePoint now) {
  std::vector<std::string> command{"GET", mark_key(name)};
  const Result result = co_await run(std::move(command));
  const auto& [error, reply] = result;
  if (!error) {
    MarkLookup lookup;
    if (reply.type == RedisValue::Type::string) {
      lookup.value = reply.text;
    }
    co_return lookup;
  }
  if (options_.fallback != nullptr) {
    ++stats_.fallbacks;
    co_return co_await options_.fallback->get_mark(name, now);
  }
  co_return MarkLookup{std::nullopt, error};
}

asio::awaitable<std::error_code> RedisCounterStore::erase_mark(std::string_view name,
                                                               TimePoint now) {
  std::vector<std::string> command{"DEL", mark_key(name)};
  const Result result = co_await run(std::move(command));
  const std::error_code error = result.first;
  if (!error) {
    co_return std::error_code{};
  }
  if (options_.fallback != nullptr) {
    ++stats_.fallbacks;
    co_return co_await options_.fallback->erase_mark(name, now);
  }
  co_return error;
}

}  // namespace policy_relay::policy
