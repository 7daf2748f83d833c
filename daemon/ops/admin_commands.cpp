// The admin socket's commands (admin/protocol.hpp), one handler each: what `policy-relayctl`
// shows and does. Queue commands show envelopes only, never a message body (POLICY VII.3).
#include <boost/json.hpp>

#include "policy_relay/delivery/scheduler.hpp"
#include "policy_relay/log/log.hpp"
#include "policy_relay/ops/operations.hpp"
#include "policy_relay/policy/engine.hpp"
#include "policy_relay/policy/identity.hpp"
#include "policy_relay/spool/spool.hpp"
#include "policy_relay/version.hpp"

namespace json = boost::json;
using policy_relay::admin::Reply;

namespace policy_relay::ops {
namespace {

constexpr std::size_t kMaxListed = 1000;

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

std::int64_t unix_seconds(policy::TimePoint time) {
  return std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
}

// Spool ids are hexadecimal: anything else never reaches a path.
bool valid_id(const std::string& id) {
  return !id.empty() && id.size() <= 32 &&
         id.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
}

json::object suspension_json(const policy::Suspension& s) {
  return {{"sender", s.identity},
          {"reason", s.reason},
          {"source", s.source},
          {"since", s.since},
          {"evidence", s.evidence}};
}

}  // namespace

void Operations::register_commands() {
  dispatcher_.add("status", [this](const json::object&) -> boost::asio::awaitable<Reply> {
    const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::steady_clock::now() - started_);
    std::uint64_t held = 0;
    for (const auto& entry : parts_.scheduler.snapshot()) {
      held += entry.state == "held" ? 1 : 0;
    }
    json::object per_minute{{"accepted", log::recent_count("accept")},
                            {"delivered", log::recent_count("deliver")},
                            {"refused", log::recent_count("reject") + log::recent_count("defer")},
                            {"bounced", log::recent_count("bounce")}};
    co_return Reply::success(
        json::object{{"version", std::string(version())},
                     {"config", parts_.config_path},
                     {"uptime_s", uptime.count()},
                     {"connections", static_cast<std::uint64_t>(server_->session_count())},
                     {"queue", static_cast<std::uint64_t>(parts_.scheduler.queued() + held)},
                     {"held", held},
                     {"suspended", static_cast<std::uint64_t>(suspensions_->list().size())},
                     {"reloads", reloads_},
                     {"last_minute", std::move(per_minute)}});
  });

  dispatcher_.add("usage", [this](const json::object& args) -> boost::asio::awaitable<Reply> {
    const auto sender = admin::string_arg(args, "sender");
    if (!sender || sender->empty()) {
      co_return Reply::failure("usage needs a sender");
    }
    const std::string identity = lower(*sender);
    const server::GenerationPtr generation = server_->generation();
    const policy::SenderPolicy& policy = generation->services.policy.senders().find(identity);
    const auto now = parts_.clock.now();
    // rate_action = "queue" paces releases to the upstream; the others count accepted messages.
    const bool paced = policy.limits.rate_action == config::RateAction::queue;
    const policy::Counter rate_counter =
        paced ? policy::Counter::releases_per_minute : policy::Counter::messages_per_minute;
    const policy::Usage minute = co_await parts_.counters.usage(identity, rate_counter, now);
    const policy::Usage day =
        co_await parts_.counters.usage(identity, policy::Counter::recipients_per_day, now);
    const auto& limits = policy.limits;
    auto remaining = [](std::uint64_t limit, std::uint64_t used) {
      return used >= limit ? std::uint64_t{0} : limit - used;
    };
    json::object result{
        {"sender", identity},
        {"messages_last_minute", minute.used},
        {"messages_counted", paced ? "released to the upstream" : "accepted"},
        {"messages_per_minute", limits.messages_per_minute},
        {"messages_remaining", remaining(limits.messages_per_minute, minute.used)},
        {"messages_frees_at", minute.used ? unix_seconds(minute.next_free) : 0},
        {"recipients_last_24h", day.used},
        {"recipients_per_day", limits.recipients_per_day},
        {"recipients_remaining", remaining(limits.recipients_per_day, day.used)},
        {"recipients_frees_at", day.used ? unix_seconds(day.next_free) : 0},
        {"queued", static_cast<std::uint64_t>(parts_.scheduler.backlog(identity))},
        {"suspended", suspensions_->find(identity) != nullptr},
        {"exception", policy.exception ? policy.exception->reference : std::string()}};
    co_return Reply::success(std::move(result));
  });

  dispatcher_.add("top", [this](const json::object& args) -> boost::asio::awaitable<Reply> {
    std::size_t limit = 10;
    if (const json::value* value = args.if_contains("limit"); value && value->is_int64()) {
      limit = static_cast<std::size_t>(std::clamp<std::int64_t>(value->as_int64(), 1, 1000));
    }
    json::array rows;
    for (const auto& row : tally_.top(limit, parts_.clock.now())) {
      rows.push_back(json::object{{"sender", row.identity},
                                  {"messages", row.messages},
                                  {"recipients", row.recipients},
                                  {"suspended", suspensions_->find(row.identity) != nullptr}});
    }
    co_return Reply::success(json::object{{"window_s", 3600}, {"senders", std::move(rows)}});
  });

  dispatcher_.add("suspend", [this](const json::object& args) -> boost::asio::awaitable<Reply> {
    const auto sender = admin::string_arg(args, "sender");
    const auto reason = admin::string_arg(args, "reason");
    if (!sender || sender->empty() || !reason || reason->empty()) {
      co_return Reply::failure("suspend needs a sender and a --reason");
    }
    const std::string identity = lower(*sender);
    if (const policy::Suspension* existing = suspensions_->find(identity)) {
      co_return Reply::success(
          json::object{{"suspended", suspension_json(*existing)}, {"already", true}});
    }
    policy::Suspension suspension{identity, *reason, "operator", 0, ""};
    suspension.since = unix_seconds(std::chrono::system_clock::now());
    const std::error_code error = co_await suspensions_->suspend(suspension);
    if (error) {
      co_return Reply::failure("cannot store the suspension: " + error.message());
    }
    log::Event("suspend", log::Level::warn)
        .add("sender", identity)
        .add("source", "operator")
        .add("clause", "VII.4")
        .add("reason", *reason);
    co_return Reply::success(
        json::object{{"suspended", suspension_json(suspension)}, {"already", false}});
  });

  dispatcher_.add("resume", [this](const json::object& args) -> boost::asio::awaitable<Reply> {
    const auto sender = admin::string_arg(args, "sender");
    if (!sender || sender->empty()) {
      co_return Reply::failure("resume needs a sender");
    }
    const std::string identity = lower(*sender);
    bool existed = false;
    const std::error_code error = co_await suspensions_->resume(identity, existed);
    if (error) {
      co_return Reply::failure("cannot store the change: " + error.message());
    }
    if (!existed) {
      co_return Reply::failure(identity + " is not suspended");
    }
    const std::size_t released = after_resume(identity, "");
    co_return Reply::success(
        json::object{{"sender", identity}, {"released", static_cast<std::uint64_t>(released)}});
  });

  dispatcher_.add("suspensions", [this](const json::object&) -> boost::asio::awaitable<Reply> {
    json::array all;
    for (const auto& suspension : suspensions_->list()) {
      all.push_back(suspension_json(suspension));
    }
    co_return Reply::success(json::object{{"suspensions", std::move(all)}});
  });

  dispatcher_.add("reload", [this](const json::object&) -> boost::asio::awaitable<Reply> {
    const ReloadResult result = reload("admin");
    if (!result.error.empty()) {
      co_return Reply::failure(result.error);
    }
    json::array pending;
    for (const auto& key : result.restart_required) {
      pending.emplace_back(key);
    }
    co_return Reply::success(
        json::object{{"config", parts_.config_path}, {"restart_required", std::move(pending)}});
  });
}

void Operations::register_queue_commands() {
  dispatcher_.add("queue.list", [this](const json::object&) -> boost::asio::awaitable<Reply> {
    json::array rows;
    const auto entries = parts_.scheduler.snapshot();
    const auto now = std::chrono::system_clock::now();
    for (const auto& entry : entries) {
      if (rows.size() >= kMaxListed) {
        break;
      }
      json::object row{{"id", entry.id}, {"state", entry.state}, {"attempts", entry.attempts}};
      if (entry.next_attempt_ms >= 0) {
        row["next_attempt_s"] = (entry.next_attempt_ms + 999) / 1000;
      }
      spool::StoredMessage message;
      if (!parts_.spool.load(entry.id, message)) {
        row["from"] = message.envelope.sender;
        row["rcpts"] = static_cast<std::uint64_t>(message.envelope.recipients.size());
        row["size"] = message.body_size;
        row["age_s"] = unix_seconds(now) - message.envelope.received_at;
      }
      rows.push_back(std::move(row));
    }
    co_return Reply::success(json::object{{"messages", std::move(rows)},
                                          {"total", static_cast<std::uint64_t>(entries.size())},
                                          {"truncated", entries.size() > kMaxListed}});
  });

  dispatcher_.add("queue.show", [this](const json::object& args) -> boost::asio::awaitable<Reply> {
    const std::string id = admin::string_arg(args, "id").value_or("");
    spool::StoredMessage message;
    if (!valid_id(id) || parts_.spool.load(id, message)) {
      co_return Reply::failure("no message " + id + " in the queue");
    }
    std::string state = "unknown";
    for (const auto& entry : parts_.scheduler.snapshot()) {
      if (entry.id == id) {
        state = entry.state;
      }
    }
    json::array recipients;
    for (const auto& recipient : message.envelope.recipients) {
      recipients.emplace_back(recipient);
    }
    json::array done;
    for (const auto& recipient : message.done_recipients) {
      done.emplace_back(recipient);
    }
    const Envelope& envelope = message.envelope;
    co_return Reply::success(json::object{{"id", id},
                                          {"state", state},
                                          {"held_by_operator", held_.contains(id)},
                                          {"from", envelope.sender},
                                          {"recipients", std::move(recipients)},
                                          {"done_recipients", std::move(done)},
                                          {"size", message.body_size},
                                          {"received_at", envelope.received_at},
                                          {"client", envelope.client_address},
                                          {"helo", envelope.helo},
                                          {"auth_user", envelope.auth_user},
                                          {"body_type", envelope.body_type},
                                          {"smtputf8", envelope.smtputf8}});
  });

  dispatcher_.add("queue.retry", [this](const json::object& args) -> boost::asio::awaitable<Reply> {
    const std::string id = admin::string_arg(args, "id").value_or("");
    if (!id.empty() && !valid_id(id)) {
      co_return Reply::failure("no message " + id + " in the queue");
    }
    const std::size_t moved = parts_.scheduler.retry_now(id);
    if (!id.empty() && moved == 0) {
      co_return Reply::failure("message " + id + " is not waiting for a retry");
    }
    log::Event("retry_now")
        .add("id", id.empty() ? "all" : id)
        .add("messages", static_cast<std::uint64_t>(moved));
    co_return Reply::success(json::object{{"retried", static_cast<std::uint64_t>(moved)}});
  });

  dispatcher_.add("queue.hold", [this](const json::object& args) -> boost::asio::awaitable<Reply> {
    const std::string id = admin::string_arg(args, "id").value_or("");
    spool::StoredMessage message;
    if (!valid_id(id) || parts_.spool.load(id, message)) {
      co_return Reply::failure("no message " + id + " in the queue");
    }
    if (auto error = held_.add(id)) {
      co_return Reply::failure("cannot store the hold: " + error.message());
    }
    const bool parked = parts_.scheduler.hold_now(id);
    log::Event("hold").add("id", id).add("source", "operator");
    co_return Reply::success(json::object{{"id", id}, {"held", true}, {"parked_now", parked}});
  });

  dispatcher_.add(
      "queue.release", [this](const json::object& args) -> boost::asio::awaitable<Reply> {
        const std::string id = admin::string_arg(args, "id").value_or("");
        if (!valid_id(id)) {
          co_return Reply::failure("no message " + id + " in the queue");
        }
        if (auto error = held_.remove(id)) {
          co_return Reply::failure("cannot store the change: " + error.message());
        }
        const std::size_t released = parts_.scheduler.release_held(
            [&](const std::string& held_id, std::string_view identity) {
              return held_id == id && suspensions_->find(identity) == nullptr;
            });
        spool::StoredMessage message;
        if (released == 0 && parts_.spool.load(id, message)) {
          co_return Reply::failure("no message " + id + " in the queue");
        }
        const bool suspended =
            released == 0 && suspensions_->find(policy::sender_identity(message.envelope.auth_user,
                                                                        message.envelope.sender));
        co_return Reply::success(
            json::object{{"id", id}, {"released", released > 0}, {"sender_suspended", suspended}});
      });

  dispatcher_.add(
      "queue.delete", [this](const json::object& args) -> boost::asio::awaitable<Reply> {
        const std::string id = admin::string_arg(args, "id").value_or("");
        if (!valid_id(id)) {
          co_return Reply::failure("no message " + id + " in the queue");
        }
        switch (parts_.scheduler.remove(id)) {
          case delivery::Scheduler::RemoveResult::removed:
            held_.remove(id);
            co_return Reply::success(json::object{{"id", id}, {"deleted", true}});
          case delivery::Scheduler::RemoveResult::in_delivery:
            co_return Reply::failure("message " + id + " is being delivered now; try again");
          case delivery::Scheduler::RemoveResult::not_found:
            break;
        }
        spool::StoredMessage message;
        if (!parts_.spool.load(id, message)) {
          co_return Reply::failure(
              "message " + id + " waits in its sender's pacing queue: hold it first, then delete");
        }
        co_return Reply::failure("no message " + id + " in the queue");
      });
}

}  // namespace policy_relay::ops
