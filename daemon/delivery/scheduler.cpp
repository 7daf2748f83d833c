#include "policy_relay/delivery/scheduler.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <unordered_set>

#include "policy_relay/log/log.hpp"
#include "policy_relay/policy/identity.hpp"

namespace asio = boost::asio;

namespace policy_relay::delivery {

namespace {

constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);

const policy::SystemClock system_clock;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string join(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& value : values) {
    if (!out.empty()) {
      out += ',';
    }
    out += value;
  }
  return out;
}

}  // namespace

Scheduler::Scheduler(asio::any_io_executor executor, spool::Spool& spool,
                     upstream::Upstream& upstream, BounceBuilder bounce_builder, Config config)
    : executor_(std::move(executor)),
      spool_(spool),
      upstream_(upstream),
      bounce_builder_(std::move(bounce_builder)),
      config_(std::move(config)) {}

policy::TimePoint Scheduler::wall_now() const {
  return (config_.pacing.clock ? config_.pacing.clock : &system_clock)->now();
}

// A message not handed out before: paced when its sender has a limit, else ready at once.
void Scheduler::add_new(Entry entry) {
  const Envelope& envelope = entry.message->envelope;
  if (config_.pacing.store && config_.pacing.limit && !envelope.sender.empty()) {
    std::string identity = policy::sender_identity(envelope.auth_user, envelope.sender);
    if (config_.pacing.limit(identity) > 0) {
      entry.identity = std::move(identity);
      paced_.push_back(std::move(entry));
      return;
    }
  }
  ready_.push_back(std::move(entry));
}

void Scheduler::start(std::vector<spool::StoredMessage> recovered) {
  for (auto& message : recovered) {
    Entry entry;
    entry.id = message.envelope.id;
    entry.message = std::move(message);
    add_new(std::move(entry));
  }
  const std::uint32_t workers = std::max<std::uint32_t>(1, config_.workers);
  for (std::uint32_t i = 0; i < workers; ++i) {
    ++running_workers_;
    asio::co_spawn(executor_, worker(), [this](std::exception_ptr error) {
      --running_workers_;
      if (error) {
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          log::Event("internal_error", log::Level::error)
              .add("where", "scheduler")
              .add("what", e.what());
        }
      }
    });
  }
}

void Scheduler::enqueue(spool::StoredMessage message) {
  Entry entry;
  entry.id = message.envelope.id;
  entry.message = std::move(message);
  add_new(std::move(entry));
  wake_one();
}

void Scheduler::wake_one() {
  if (!idle_workers_.empty()) {
    idle_workers_.front()->cancel();
  }
}

void Scheduler::defer(Entry entry, std::chrono::milliseconds delay) {
  entry.message.reset();  // reloaded from the spool when due: deferred mail costs no memory
  deferred_.emplace(Clock::now() + delay, std::move(entry));
  wake_one();  // an idle worker may need an earlier wake-up
}

void Scheduler::move_due_entries() {
  const auto now = Clock::now();
  while (!deferred_.empty() && deferred_.begin()->first <= now) {
    Entry entry = std::move(deferred_.begin()->second);
    deferred_.erase(deferred_.begin());
    if (entry.identity.empty()) {
      ready_.push_back(std::move(entry));
    } else {
      paced_.push_front(std::move(entry));  // a retry is a hand-over too: it is counted again
    }
  }
  paced_.unblock_due(now);
}

std::optional<Scheduler::Clock::time_point> Scheduler::next_wake() const {
  std::optional<Clock::time_point> next = paced_.next_unblock();
  if (!deferred_.empty() && (!next || deferred_.begin()->first < *next)) {
    next = deferred_.begin()->first;
  }
  return next;
}

asio::awaitable<void> Scheduler::worker() {
  asio::steady_timer wake(executor_);
  while (!stopping_) {
    move_due_entries();
    if (paced_.has_runnable() && (ready_.empty() || paced_turn_)) {
      paced_turn_ = false;
      // Listed senders can have nothing left (an operator deleted or held their messages).
      if (std::optional<Entry> head = paced_.take_runnable()) {
        ++active_;
        co_await release(std::move(*head));
        --active_;
      }
      continue;
    }
    if (!ready_.empty()) {
      paced_turn_ = true;
      Entry entry = std::move(ready_.front());
      ready_.pop_front();
      ++active_;
      co_await deliver(std::move(entry));
      --active_;
      continue;
    }
    wake.expires_at(next_wake().value_or(Clock::time_point::max()));
    idle_workers_.push_back(&wake);
    auto self = std::prev(idle_workers_.end());
    co_await wake.async_wait(as_tuple_awaitable);
    idle_workers_.erase(self);
  }
}

asio::awaitable<void> Scheduler::release(Entry entry) {
  const Pacing& pacing = config_.pacing;
  const std::string identity = entry.identity;
  if (park_if_held(entry, identity)) {
    paced_.granted(identity);  // its next message may be looked at
    co_return;
  }
  const std::uint32_t limit = pacing.limit ? pacing.limit(identity) : 0;
  if (limit == 0 || pacing.store == nullptr) {
    paced_.granted(identity);  // no longer limited (a reload): nothing to count
    co_await deliver(std::move(entry));
    co_return;
  }
  // Counted before the upstream sees the message (a kill -9 keeps the count), in one step with
  // the check; not synced: a disk sync per message would halve the delivery rate for a count
  // that only paces.
  auto result = co_await pacing.store->try_count(identity, policy::Counter::releases_per_minute, 1,
                                                 limit, wall_now());
  if (!result.granted) {
    auto wait = pacing.error_backoff;
    if (!result.error) {
      // frees_at is wall-clock time; the wait runs on the steady clock.
      wait = std::chrono::ceil<std::chrono::milliseconds>(result.frees_at - wall_now());
      wait = std::max(wait, std::chrono::milliseconds(1));
    }
    {
      log::Event event("pace", result.error ? log::Level::error : log::Level::info);
      event.add("sender", identity)
          .add("queued", static_cast<std::uint64_t>(paced_.backlog(identity)))
          .add("released", result.used)
          .add("limit", limit)
          .add("next_in_ms", static_cast<std::int64_t>(wait.count()));
      if (result.error) {
        event.add("error", result.error.message());
      }
    }
    paced_.refused(std::move(entry), Clock::now() + wait);
    if (!result.error && on_rate_hit_) {
      on_rate_hit_(identity);
    }
    wake_one();  // an idle worker may need an earlier wake-up
    co_return;
  }
  paced_.granted(identity);
  wake_one();  // the sender's next message may go to another worker
  if (result.error) {
    log::Event("internal_error", log::Level::error)
        .add("where", "pacing.commit")
        .add("id", entry.id)
        .add("error", result.error.message());
  }
  co_await deliver(std::move(entry));
}

asio::awaitable<void> Scheduler::deliver(Entry entry) {
  const std::string id = entry.id;
  active_ids_.insert(id);
  co_await deliver_loaded(std::move(entry));
  active_ids_.erase(id);
}

asio::awaitable<void> Scheduler::deliver_loaded(Entry entry) {
  if (!entry.message) {
    spool::StoredMessage loaded;
    if (auto ec = spool_.load(entry.id, loaded)) {
      log::Event("internal_error", log::Level::error)
          .add("where", "scheduler.load")
          .add("id", entry.id)
          .add("error", ec.message());
      co_return;  // left in the spool: recovery sets it aside at the next start
    }
    entry.message = std::move(loaded);
  }
  if (park_if_held(entry, policy::sender_identity(entry.message->envelope.auth_user,
                                                  entry.message->envelope.sender))) {
    co_return;
  }
  const spool::StoredMessage& message = *entry.message;
  const std::unordered_set<std::string> done(message.done_recipients.begin(),
                                             message.done_recipients.end());
  std::vector<std::string> pending;
  for (const auto& recipient : message.envelope.recipients) {
    if (!done.contains(recipient)) {
      pending.push_back(recipient);
    }
  }
  if (pending.empty()) {
    spool_.remove(entry.id);
    co_return;
  }

  const auto started = Clock::now();
  upstream::DeliveryResult result = co_await upstream_.deliver(message, pending);
  const auto elapsed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();

  std::vector<std::string> delivered;
  std::vector<upstream::RecipientResult> failed;
  std::vector<upstream::RecipientResult> temporary;
  for (auto& recipient_result : result.recipients) {
    if (recipient_result.reply.positive()) {
      delivered.push_back(recipient_result.recipient);
    } else if (recipient_result.reply.permanent()) {
      failed.push_back(recipient_result);
    } else {
      temporary.push_back(recipient_result);
    }
  }
  // A recipient the upstream said nothing about is retried.
  for (const auto& recipient : pending) {
    const auto said = std::find_if(result.recipients.begin(), result.recipients.end(),
                                   [&](const auto& r) { return r.recipient == recipient; });
    if (said == result.recipients.end()) {
      temporary.push_back({recipient, {451, "4.3.0", "no result from upstream"}});
    }
  }

  if (!delivered.empty()) {
    log::Event("deliver")
        .add("id", entry.id)
        .add("from", message.envelope.sender)
        .add("rcpts", static_cast<std::uint64_t>(delivered.size()))
        .add("to", join(delivered))
        .add("upstream_reply",
             result.upstream_reply.empty() ? result.summary : result.upstream_reply)
        .add("ms", static_cast<std::int64_t>(elapsed_ms));
  }

  const bool expired =
      !temporary.empty() &&
      std::chrono::seconds(unix_now() - message.envelope.received_at) >= config_.max_age;
  if (expired) {
    failed.insert(failed.end(), temporary.begin(), temporary.end());
  }
  if (!failed.empty()) {
    co_await bounce(message, failed, expired);
  }
  if (expired || temporary.empty()) {
    spool_.remove(entry.id);
    co_return;
  }

  std::vector<std::string> finished = delivered;
  for (const auto& recipient_result : failed) {
    finished.push_back(recipient_result.recipient);
  }
  if (!finished.empty()) {
    if (auto ec = spool_.mark_done(entry.id, finished)) {
      log::Event("internal_error", log::Level::error)
          .add("where", "spool.mark_done")
          .add("id", entry.id)
          .add("error", ec.message());
    }
  }
  ++entry.attempts;
  auto delay = config_.retry_min;
  for (std::uint32_t i = 1; i < entry.attempts && delay < config_.retry_max; ++i) {
    delay *= 2;
  }
  delay = std::min(delay, config_.retry_max);
  log::Event("retry", log::Level::warn)
      .add("id", entry.id)
      .add("rcpts", static_cast<std::uint64_t>(temporary.size()))
      .add("attempt", entry.attempts)
      .add("next_in_s", static_cast<std::int64_t>(delay.count() / 1000))
      .add("reason", temporary.front().reply.to_log());
  entry.message->file.reset();  // no descriptor held through the back-off
  defer(std::move(entry), delay);
}

asio::awaitable<void> Scheduler::bounce(const spool::StoredMessage& original,
                                        const std::vector<upstream::RecipientResult>& failed,
                                        bool expired) {
  for (const auto& recipient_result : failed) {
    log::Event("bounce", log::Level::warn)
        .add("id", original.envelope.id)
        .add("from", original.envelope.sender)
        .add("rcpt", recipient_result.recipient)
        .add("reply", recipient_result.reply.to_log())
        .add("expired", expired);
  }
  // RFC 5321 4.5.5 / RFC 3464: a message from the null sender is never bounced.
  if (original.envelope.sender.empty()) {
    co_return;
  }
  auto dsn = bounce_builder_(original, failed, expired);
  if (!dsn) {
    co_return;
  }
  Envelope& envelope = dsn->envelope;
  envelope.client_address = "127.0.0.1";
  envelope.helo = config_.hostname;
  envelope.received_at = unix_now();
  if (auto ec = co_await spool_.store(envelope, dsn->message, executor_)) {
    // The failed recipients are still marked done: better a lost DSN than a loop of them.
    log::Event("internal_error", log::Level::error)
        .add("where", "bounce.store")
        .add("id", original.envelope.id)
        .add("error", ec.message());
    co_return;
  }
  log::Event("dsn")
      .add("id", envelope.id)
      .add("for", original.envelope.id)
      .add("to", original.envelope.sender);
  spool::StoredMessage stored;
  if (!spool_.load(envelope.id, stored)) {
    enqueue(std::move(stored));
  }
}

asio::awaitable<void> Scheduler::stop(Clock::time_point deadline) {
  stopping_ = true;
  for (auto* timer : idle_workers_) {
    timer->cancel();
  }
  asio::steady_timer poll(executor_);
  while (running_workers_ > 0 && Clock::now() < deadline) {
    poll.expires_after(std::chrono::milliseconds(20));
    co_await poll.async_wait(as_tuple_awaitable);
  }
}

}  // namespace policy_relay::delivery
