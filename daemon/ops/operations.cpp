#include "policy_relay/ops/operations.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "policy_relay/config/loader.hpp"
#include "policy_relay/delivery/scheduler.hpp"
#include "policy_relay/log/log.hpp"
#include "policy_relay/ops/notify.hpp"

namespace asio = boost::asio;

namespace policy_relay::ops {
namespace {

policy::AbuseThresholds thresholds_of(const config::AbuseConfig& abuse) {
  return {abuse.refusals, abuse.refusals_window, abuse.rate_hits_per_hour,
          abuse.public_recipients_per_hour};
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

bool same_listen(const std::vector<config::ListenAddress>& a,
                 const std::vector<config::ListenAddress>& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].host != b[i].host || a[i].port != b[i].port) {
      return false;
    }
  }
  return true;
}

// Keys a reload cannot apply: they belong to objects built once at start.
std::vector<std::string> restart_required(const config::Config& old, const config::Config& now) {
  std::vector<std::string> keys;
  auto check = [&](bool same, const char* key) {
    if (!same) {
      keys.emplace_back(key);
    }
  };
  check(same_listen(old.server.listen, now.server.listen), "server.listen");
  check(same_listen(old.server.listen_tls, now.server.listen_tls), "server.listen_tls");
  check(old.spool.directory == now.spool.directory, "spool.directory");
  check(old.spool.max_age == now.spool.max_age && old.spool.retry_min == now.spool.retry_min &&
            old.spool.retry_max == now.spool.retry_max,
        "spool (max_age, retry_min, retry_max)");
  check(old.state.directory == now.state.directory && old.state.backend == now.state.backend,
        "state");
  check(old.limits.rate_window == now.limits.rate_window, "limits.rate_window");
  const auto& u = old.upstream;
  const auto& v = now.upstream;
  check(u.mode == v.mode && u.directory == v.directory && u.host == v.host && u.port == v.port &&
            u.tls == v.tls && u.auth == v.auth && u.connections == v.connections &&
            u.username == v.username && u.ca_file == v.ca_file,
        "upstream");
  check(old.admin.socket == now.admin.socket, "admin.socket");
  // The notice sender (advice action "notify") is built at start, with its From.
  const auto notifies = [](const config::Config& c) {
    return c.advice.bcc_action == config::AdviceAction::notify ||
           c.advice.attachment_action == config::AdviceAction::notify;
  };
  check(notifies(old) == notifies(now) &&
            (!notifies(now) || old.advice.notify_from == now.advice.notify_from),
        "advice (an action turned to or from notify, notify_from)");
  return keys;
}

bool same_log(const config::LogConfig& a, const config::LogConfig& b) {
  return a.file == b.file && a.format == b.format && a.level == b.level &&
         a.max_size == b.max_size && a.max_files == b.max_files;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Operations::Operations(Parts parts, const config::Config& config)
    : parts_(parts), held_(config.state.directory), abuse_(thresholds_of(config.abuse)) {
  if (parts_.redis != nullptr) {
    auto shared = std::make_unique<RedisSuspensionStore>(parts_.io.get_executor(), *parts_.redis);
    // Lifted on another relay: what this one held for the sender goes, as after a resume here.
    shared->set_on_lifted(
        [this](const std::string& identity) { after_resume(identity, "shared"); });
    shared_suspensions_ = shared.get();
    suspensions_ = std::move(shared);
  } else {
    suspensions_ = std::make_unique<FileSuspensionStore>(config.state.directory);
  }
  register_commands();
  register_queue_commands();
}

Operations::~Operations() = default;

const config::Config& Operations::config() const {
  return *server_->generation()->config;
}

SharedServices Operations::shared() {
  return {parts_.spool, parts_.scheduler, parts_.counters, parts_.clock, suspensions_.get(),
          this,         parts_.notifier};
}

std::size_t Operations::after_resume(const std::string& identity, std::string_view source) {
  abuse_.forget(identity);
  const std::size_t released =
      parts_.scheduler.release_held([&](const std::string& id, std::string_view owner) {
        return owner == identity && !held_.contains(id);
      });
  log::Event event("resume");
  event.add("sender", identity);
  if (!source.empty()) {
    event.add("source", source);
  }
  event.add("released", static_cast<std::uint64_t>(released));
  return released;
}

bool Operations::held(const std::string& id, std::string_view identity) const {
  return held_.contains(id) || suspensions_->find(identity) != nullptr;
}

void Operations::start(server::Server& server) {
  server_ = &server;
  const server::GenerationPtr& first = server.generation();
  parts_.scheduler.set_hold_check(
      [this](const std::string& id, std::string_view identity) { return held(id, identity); });
  parts_.scheduler.set_on_rate_hit([this](const std::string& identity) { on_rate_hit(identity); });
  admin_ = std::make_unique<admin::AdminServer>(parts_.io, first->config->admin.socket,
                                                first->config->admin.request_timeout, dispatcher_);
  admin_->start();
  if (shared_suspensions_ != nullptr) {
    shared_suspensions_->start();  // the first read of Redis follows at once
  }
  if (const auto interval = watchdog_interval()) {
    asio::co_spawn(parts_.io, watchdog(*interval), asio::detached);
  }
  log::Event("ready")
      .add("suspended", static_cast<std::uint64_t>(suspensions_->list().size()))
      .add("held", static_cast<std::uint64_t>(held_.ids().size()));
  notify("READY=1\nSTATUS=accepting mail");
}

void Operations::stop() {
  stopping_ = true;
  notify("STOPPING=1");
  if (admin_) {
    admin_->stop();
  }
  if (shared_suspensions_ != nullptr) {
    shared_suspensions_->stop();
  }
}

asio::awaitable<void> Operations::watchdog(std::chrono::microseconds interval) {
  asio::steady_timer timer(parts_.io);
  while (!stopping_) {
    notify("WATCHDOG=1");
    timer.expires_after(interval);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

Operations::ReloadResult Operations::reload(std::string_view trigger) {
  notify_reloading();
  ReloadResult result;
  const server::GenerationPtr previous = server_->generation();
  server::GenerationPtr next;
  try {
    auto config = std::make_shared<const config::Config>(config::load_file(parts_.config_path));
    next = build_generation(config, previous.get(), shared());
    if (!same_log(previous->config->log, config->log)) {
      log::init(config->log);
    }
  } catch (const std::exception& error) {
    result.error = error.what();
    log::Event("reload", log::Level::error)
        .add("status", "failed")
        .add("trigger", trigger)
        .add("error", result.error)
        .add("detail", "the running configuration stays in force");
    notify("READY=1\nSTATUS=accepting mail (last reload failed)");
    return result;
  }
  result.restart_required = restart_required(*previous->config, *next->config);
  server_->replace(next);
  abuse_.configure(thresholds_of(next->config->abuse));
  ++reloads_;
  std::string pending;
  for (const auto& key : result.restart_required) {
    pending += pending.empty() ? "" : ",";
    pending += key;
  }
  log::Event reloaded("reload", pending.empty() ? log::Level::info : log::Level::warn);
  reloaded.add("status", "ok").add("trigger", trigger).add("config", parts_.config_path);
  if (!pending.empty()) {
    reloaded.add("restart_required", pending);
  }
  notify("READY=1\nSTATUS=accepting mail");
  return result;
}

void Operations::on_refusal(std::string_view identity, const policy::Verdict& verdict) {
  const auto now = parts_.clock.now();
  if (auto trip = abuse_.on_refusal(identity, verdict.rule, now)) {
    tripped(identity, *trip);
    return;
  }
  if (verdict.rule == "messages_per_minute" || verdict.rule == "queue_backlog_per_sender") {
    on_rate_hit(std::string(identity));
  }
}

void Operations::on_rate_hit(const std::string& identity) {
  if (auto trip = abuse_.on_rate_hit(identity, parts_.clock.now())) {
    tripped(identity, *trip);
  }
}

void Operations::on_accept(std::string_view identity, const std::vector<std::string>& recipients) {
  const auto now = parts_.clock.now();
  tally_.add(identity, recipients.size(), now);
  // [mass_mail] public_domains (POLICY VI.9): a domain also covers its subdomains.
  const auto& providers = server_->generation()->config->mass_mail.public_domains;
  std::uint64_t public_recipients = 0;
  for (const std::string& recipient : recipients) {
    const auto at = recipient.rfind('@');
    const std::string domain = at == std::string::npos ? "" : lower(recipient.substr(at + 1));
    for (const std::string& provider : providers) {
      if (domain == provider || domain.ends_with("." + provider)) {
        ++public_recipients;
        break;
      }
    }
  }
  if (auto trip = abuse_.on_public_recipients(identity, public_recipients, now)) {
    tripped(identity, *trip);
  }
}

void Operations::tripped(std::string_view identity, const policy::AbuseTrip& trip) {
  policy::Suspension suspension;
  suspension.identity = std::string(identity);
  suspension.source = "abuse";
  suspension.reason = "automatic: " + trip.trigger;
  suspension.since = unix_now();
  suspension.evidence = "trigger=" + trip.trigger + " count=" + std::to_string(trip.count) +
                        " threshold=" + std::to_string(trip.threshold) +
                        " window_s=" + std::to_string(trip.window.count()) +
                        " first=" + policy::Catalog::format_utc(trip.first) +
                        (trip.last_rule.empty() ? "" : " last_rule=" + trip.last_rule);
  asio::co_spawn(parts_.io, suspend_for_abuse(std::move(suspension)), asio::detached);
}

asio::awaitable<void> Operations::suspend_for_abuse(policy::Suspension suspension) {
  if (suspensions_->find(suspension.identity) != nullptr) {
    co_return;
  }
  const policy::Suspension logged = suspension;
  const std::error_code error = co_await suspensions_->suspend(std::move(suspension));
  log::Event event("suspend", log::Level::warn);
  event.add("sender", logged.identity)
      .add("source", logged.source)
      .add("clause", "IV.2")
      .add("reason", logged.reason)
      .add("evidence", logged.evidence);
  if (error) {
    event.add("error", error.message());
  }
}

}  // namespace policy_relay::ops
