// policy-relayd: the SMTP submission relay daemon (DESIGN.md "Data flow").
#include <sys/stat.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "policy_relay/config/loader.hpp"
#include "policy_relay/delivery/scheduler.hpp"
#include "policy_relay/log/log.hpp"
#include "policy_relay/ops/generation_builder.hpp"
#include "policy_relay/ops/operations.hpp"
#include "policy_relay/policy/clock.hpp"
#include "policy_relay/policy/engine.hpp"
#include "policy_relay/policy/local_counter_store.hpp"
#include "policy_relay/policy/redis_counter_store.hpp"
#include "policy_relay/policy/sender_policy.hpp"
#include "policy_relay/server/advice_notifier.hpp"
#include "policy_relay/server/server.hpp"
#include "policy_relay/spool/spool.hpp"
#include "policy_relay/upstream/factory.hpp"
#include "policy_relay/version.hpp"

namespace asio = boost::asio;
using namespace policy_relay;

namespace {

constexpr const char* default_config_path = "/etc/policy-relay/policy-relay.toml";

void print_usage() {
  std::printf(
      "usage: policy-relayd [--config PATH] [--check-config] [--version]\n"
      "  --config PATH   configuration file (default %s)\n"
      "  --check-config  validate the configuration and exit (0 = valid)\n"
      "  --version       print the version and exit\n",
      default_config_path);
}

struct Options {
  std::string config_path = default_config_path;
  bool check_only = false;
};

// Returns false (after printing why) when the command line is not usable.
bool parse_options(int argc, char** argv, Options& options, int& exit_code) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view argument = argv[i];
    if (argument == "--config" && i + 1 < argc) {
      options.config_path = argv[++i];
    } else if (argument.starts_with("--config=")) {
      options.config_path = std::string(argument.substr(9));
    } else if (argument == "--check-config") {
      options.check_only = true;
    } else if (argument == "--version") {
      std::printf("policy-relayd %s\n", std::string(version()).c_str());
      exit_code = 0;
      return false;
    } else if (argument == "--help" || argument == "-h") {
      print_usage();
      exit_code = 0;
      return false;
    } else {
      std::fprintf(stderr, "policy-relayd: unknown argument '%s'\n", argv[i]);
      print_usage();
      exit_code = 2;
      return false;
    }
  }
  return true;
}

// SIGTERM / SIGINT: stop accepting, let DATA in flight finish up to server.shutdown_timeout,
// then stop delivery and the event loop. SIGHUP reloads (ops::Operations::reload); SIGUSR1
// reopens the log file (after an external logrotate moved it).
// `signals` was set up before the listeners were bound: a signal that arrives before the event
// loop runs waits for it instead of killing the process.
asio::awaitable<void> handle_signals(asio::io_context& io, asio::signal_set& signals,
                                     ops::Operations& operations, server::Server& server,
                                     delivery::Scheduler& scheduler, upstream::Upstream& upstream,
                                     spool::Spool& spool) {
  for (;;) {
    const int signal = co_await signals.async_wait(asio::use_awaitable);
    if (signal == SIGHUP) {
      operations.reload("SIGHUP");
      continue;
    }
    if (signal == SIGUSR1) {
      log::reopen();
      log::Event("log_reopened");
      continue;
    }
    break;
  }
  operations.stop();
  const auto deadline =
      std::chrono::steady_clock::now() + server.generation()->config->server.shutdown_timeout;
  log::Event("shutdown")
      .add("phase", "begin")
      .add("sessions", static_cast<std::uint64_t>(server.session_count()));
  server.begin_shutdown();
  asio::steady_timer poll(io);
  while (server.session_count() > 0 && std::chrono::steady_clock::now() < deadline) {
    poll.expires_after(std::chrono::milliseconds(20));
    co_await poll.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (server.session_count() > 0) {
    log::Event("shutdown", log::Level::warn)
        .add("phase", "deadline")
        .add("closed", static_cast<std::uint64_t>(server.session_count()));
    server.close_all();
  }
  upstream.shutdown();
  co_await scheduler.stop(
      std::max(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(1)));
  const auto commits = spool.commit_stats();
  log::Event("shutdown")
      .add("phase", "done")
      .add("queued", static_cast<std::uint64_t>(scheduler.queued()))
      .add("committed", commits.messages)
      .add("commit_batches", commits.batches)
      .add("largest_batch", commits.largest_batch);
  io.stop();
}

std::unique_ptr<policy::LocalCounterStore> open_local_counters(
    const config::Config& config, asio::io_context& io,
    const policy::CounterTable::Specs& windows) {
  policy::LocalCounterStore::Options options;
  options.windows = windows;
  auto store = std::make_unique<policy::LocalCounterStore>(config.state.directory,
                                                           io.get_executor(), options);
  const auto stats = store->stats();
  log::Event("counters_recovered", stats.replay.torn_bytes || stats.replay.skipped_bytes
                                       ? log::Level::warn
                                       : log::Level::info)
      .add("senders", static_cast<std::uint64_t>(stats.table.keys))
      .add("buckets", static_cast<std::uint64_t>(stats.table.buckets))
      .add("torn_bytes", stats.replay.torn_bytes)
      .add("damaged_bytes", stats.replay.skipped_bytes);
  return store;
}

// The first line of the file, without its line end (start-up: throws when unreadable).
std::string read_secret(const std::string& path) {
  std::ifstream file(path);
  std::string line;
  if (!file || !std::getline(file, line)) {
    throw std::runtime_error("cannot read state.redis_password_file " + path);
  }
  if (!line.empty() && line.back() == '\r') {
    line.pop_back();
  }
  return line;
}

// [state] backend = "redis" (issue 7): counters shared by every relay of a cluster. While Redis
// is unreachable, redis_unavailable = "local" counts in `fallback`; either way the outage is
// logged at level error when it begins and every redis_alert_interval while it lasts.
policy::RedisCounterStore::Options redis_options(const config::Config& config,
                                                 const policy::CounterTable::Specs& windows,
                                                 policy::CounterStore* fallback) {
  const config::StateConfig& state = config.state;
  policy::RedisCounterStore::Options options;
  if (std::string error = policy::parse_redis_url(state.redis_url, options.connection.endpoint);
      !error.empty()) {
    throw std::runtime_error("state.redis_url: " + error);  // the loader checked it already
  }
  if (!state.redis_password_file.empty()) {
    options.connection.password = read_secret(state.redis_password_file);
  }
  options.connection.connect_timeout = state.redis_connect_timeout;
  options.connection.command_timeout = state.redis_timeout;
  options.key_prefix = state.redis_key_prefix;
  options.windows = windows;
  options.reservation_ttl = state.redis_reservation_ttl;
  options.alert_interval = state.redis_alert_interval;
  options.fallback = fallback;
  const std::string where = policy::describe(options.connection.endpoint);
  const std::string_view mode = fallback != nullptr ? "local" : "defer";
  options.report = [where, mode](const policy::RedisAlert& alert) {
    using Kind = policy::RedisAlert::Kind;
    if (alert.kind == Kind::restored) {
      log::Event("redis_restored", log::Level::warn)
          .add("redis", where)
          .add("failed_operations", alert.failed_operations);
      return;
    }
    log::Event("redis_unavailable", log::Level::error)
        .add("redis", where)
        .add("fallback", mode)
        .add("reminder", alert.kind == Kind::still_unavailable ? "yes" : "no")
        .add("failed_operations", alert.failed_operations)
        .add("reason", alert.reason)
        .add("detail", mode == "local" ? "counting locally: limits hold per relay, not in total"
                                       : "counted commands get 451 4.3.0");
  };
  log::Event("counters")
      .add("backend", "redis")
      .add("redis", where)
      .add("fallback", mode)
      .add("key_prefix", state.redis_key_prefix);
  return options;
}

int run(const Options& options) {
  auto config = std::make_shared<const config::Config>(config::load_file(options.config_path));
  log::init(config->log);
  log::Event("start").add("version", version()).add("config", options.config_path);

  // Declared before the event loop so that they outlive it: a session still suspended when the
  // loop is destroyed gives its counter reservations back into a live store.
  policy::SystemClock clock;
  std::unique_ptr<policy::LocalCounterStore> local_counters;
  std::unique_ptr<policy::RedisCounterStore> redis_counters;
  // The per-configuration services (engine, TLS, AUTH, directory) live in generations that
  // sessions share; the last ones go with the server, after the event loop.
  std::unique_ptr<server::Server> server;
  asio::io_context io(1);
  // Log lines are written once per loop round (a flush posted behind the handlers already
  // queued), not one write(2) each; the guard writes the rest when the loop is gone.
  log::set_flush_scheduler([&io] { asio::post(io, [] { log::flush(); }); });
  const struct FlushSchedulerReset {
    ~FlushSchedulerReset() { log::set_flush_scheduler({}); }
  } flush_scheduler_reset;
  // Handlers first (asio queues what arrives until the loop asks): a SIGTERM during recovery or
  // right after the listeners are bound is a clean stop, not the default action.
  asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
  signals.add(SIGUSR1);
  spool::Spool spool({config->spool.directory, config->spool.min_free_space});
  auto recovered = spool.recover();
  log::Event("spool_recovered").add("messages", static_cast<std::uint64_t>(recovered.size()));

  // limits.rate_window (extension) sets the length of the per-minute windows.
  policy::CounterTable::Specs windows = policy::CounterTable::default_specs();
  for (const auto counter :
       {policy::Counter::messages_per_minute, policy::Counter::releases_per_minute}) {
    windows[static_cast<std::size_t>(counter)] =
        policy::scaled_window_spec(counter, config->limits.rate_window);
  }
  const bool redis = config->state.backend == config::StateBackend::redis;
  // Held messages (and, locally, counters, suspensions and notices) live here whatever the
  // backend: it must exist before the first `queue hold`.
  if (::mkdir(config->state.directory.c_str(), 0700) != 0 && errno != EEXIST) {
    throw std::runtime_error("cannot create state.directory " + config->state.directory + ": " +
                             std::strerror(errno));
  }
  if (!redis || config->state.redis_unavailable == config::RedisUnavailable::local) {
    // backend = "local", or the redis backend's fallback: the journal under state.directory.
    local_counters = open_local_counters(*config, io, windows);
  }
  policy::CounterStore* counters = local_counters.get();
  if (redis) {
    redis_counters = std::make_unique<policy::RedisCounterStore>(
        io.get_executor(), redis_options(*config, windows, local_counters.get()));
    redis_counters->start();
    counters = redis_counters.get();
  }

  auto upstream = upstream::make_upstream(*config, io.get_executor());
  delivery::Scheduler::Config scheduler_config;
  scheduler_config.retry_min = config->spool.retry_min;
  scheduler_config.retry_max = config->spool.retry_max;
  scheduler_config.max_age = config->spool.max_age;
  scheduler_config.workers = config->upstream.connections;
  scheduler_config.hostname = config->server.hostname;
  // rate_action = "queue" (POLICY VI.4): each sender's messages_per_minute, exceptions included,
  // from the configuration in force (a reload applies at the next release).
  scheduler_config.pacing.store = counters;
  scheduler_config.pacing.limit = [&server](const std::string& identity) {
    const server::Generation& current = *server->generation();
    const config::LimitsConfig& limits = current.services.policy.senders().find(identity).limits;
    const bool paced =
        current.config->limits.enabled && limits.rate_action == config::RateAction::queue;
    return paced ? limits.messages_per_minute : 0u;
  };
  delivery::Scheduler scheduler(io.get_executor(), spool, *upstream,
                                upstream::make_bounce_builder(*config), scheduler_config);

  // Advisory mails (advice action "notify", POLICY VI.11, VI.12): at most one per sender and
  // rule in 24 h, remembered under [state] directory, or in Redis for the whole cluster.
  server::NoticeLog notice_log(config->state.directory + "/advice-notices", std::chrono::hours(24));
  std::unique_ptr<server::AdviceNotifier> notifier;
  if (config->advice.bcc_action == config::AdviceAction::notify ||
      config->advice.attachment_action == config::AdviceAction::notify) {
    if (!redis) {  // with Redis the marks are there (and state.directory may not even exist)
      notice_log.load(
          std::chrono::duration_cast<std::chrono::seconds>(clock.now().time_since_epoch()).count());
    }
    notifier = std::make_unique<server::AdviceNotifier>(
        io.get_executor(), spool, scheduler, notice_log, clock,
        server::AdviceNotifier::Config{config->advice.notify_from, config->server.hostname},
        redis ? counters : nullptr);
  }

  // The policy chain (POLICY I.1, VI.1, VI.3, VI.4), TLS and AUTH (VII.1), the account
  // directory (III.1, IV.3), suspensions (IV.2): one generation, replaced at each reload.
  // Operations reads the suspensions first: the first generation refuses suspended senders.
  auto operations = std::make_unique<ops::Operations>(
      ops::Operations::Parts{io, options.config_path, scheduler, spool, *counters, clock,
                             notifier.get(), redis_counters.get()},
      *config);
  server = std::make_unique<server::Server>(
      io, ops::build_generation(config, nullptr, operations->shared()));
  server->start();
  scheduler.start(std::move(recovered));
  operations->start(*server);  // READY=1: listeners bound, spool recovered

  asio::co_spawn(io, handle_signals(io, signals, *operations, *server, scheduler, *upstream, spool),
                 [&io](std::exception_ptr error) {
                   if (error) {
                     io.stop();
                   }
                 });
  io.run();
  operations.reset();
  server.reset();
  // The counter journal posts its completions to `io`: let the last ones land while it exists.
  if (local_counters) {
    local_counters->drain();
    const auto stats = local_counters->stats();
    log::Event("counters_closed")
        .add("senders", static_cast<std::uint64_t>(stats.table.keys))
        .add("journal_appends", stats.journal.appends)
        .add("journal_syncs", stats.journal.syncs)
        .add("batched_records", stats.batched_records)
        .add("batches", stats.batches);
  }
  if (redis_counters) {
    redis_counters->close();  // its socket and timers belong to `io`
  }
  log::flush();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  Options options;
  int exit_code = 0;
  if (!parse_options(argc, argv, options, exit_code)) {
    return exit_code;
  }
  if (options.check_only) {
    try {
      config::load_file(options.config_path);
      std::printf("%s: ok\n", options.config_path.c_str());
      return 0;
    } catch (const config::ConfigError& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 1;
    }
  }
  try {
    return run(options);
  } catch (const config::ConfigError& e) {
    std::fprintf(stderr, "policy-relayd: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    // Start-up failures (a port in use, an unwritable spool): say why, exit non-zero.
    std::fprintf(stderr, "policy-relayd: cannot start: %s\n", e.what());
    log::Event("fatal", log::Level::error).add("what", e.what());
    log::flush();
    return 1;
  }
}
