// The cost of the policy chain per message (issue 3 "Benchmark"): policy::Engine running MAIL,
// one RCPT, end of DATA and the commit for a message from one of 100,000 distinct senders (no
// limit bites), over an in-memory CounterStore built on the local backend's CounterTable (no
// journal: the journal's cost is counter_store_micro's store_* figures).
//   engine_message/queue   the default config (rate_action = "queue": one counter per message)
//   engine_message/defer   rate_action = "defer" (the per-minute counter as well)
//   engine_message/off     [limits] enabled = false (what the chain costs when switched off)
//   engine_recipients/N    one message with N recipients, per recipient
#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "policy_relay/policy/counter_table.hpp"
#include "policy_relay/policy/engine.hpp"
#include "policy_relay/policy/identity.hpp"

namespace asio = boost::asio;
using namespace policy_relay;
using namespace policy_relay::policy;

namespace {

// CounterStore over a CounterTable, every operation completing at once.
class TableStore final : public CounterStore {
 public:
  asio::awaitable<ReserveResult> try_reserve(std::string_view key, Counter counter,
                                             std::uint64_t amount, std::uint64_t limit,
                                             TimePoint now) override {
    const CounterTable::Check check = table_.try_reserve(key, counter, amount, limit, now);
    ReserveResult result;
    result.granted = check.granted;
    result.used = check.used;
    result.frees_at = check.frees_at;
    if (check.granted) {
      result.reservation = {next_++, std::string(key), counter, amount};
    }
    co_return result;
  }
  asio::awaitable<std::error_code> commit(Reservation& reservation, TimePoint now) override {
    table_.unreserve(reservation.key, reservation.counter, reservation.amount);
    table_.add(reservation.key, reservation.counter, reservation.amount, now);
    reservation = Reservation{};
    co_return std::error_code{};
  }
  void release(Reservation& reservation) override {
    if (reservation) {
      table_.unreserve(reservation.key, reservation.counter, reservation.amount);
      reservation = Reservation{};
    }
  }
  asio::awaitable<Usage> usage(std::string_view key, Counter counter, TimePoint now) override {
    co_return table_.usage(key, counter, now);
  }

 private:
  CounterTable table_;
  std::uint64_t next_ = 1;
};

class SteppingClock final : public Clock {
 public:
  TimePoint now() const override { return now_ += std::chrono::microseconds(100); }

 private:
  mutable TimePoint now_{std::chrono::seconds(1'795'910'400)};
};

std::vector<Transaction> transactions(std::size_t count) {
  std::vector<Transaction> all(count);
  for (std::size_t i = 0; i < count; ++i) {
    Transaction& t = all[i];
    t.sender_local_part = "user" + std::to_string(i);
    t.sender_domain = "edomex.gob.mx";
    t.sender = t.sender_local_part + "@" + t.sender_domain;
    t.identity = sender_identity("", t.sender);
    t.message_size = 5120;
  }
  return all;
}

// MAIL, `recipients` RCPTs, end of DATA, commit, per iteration; senders round robin.
void run_messages(benchmark::State& state, config::Config config, int recipients) {
  asio::io_context io(1);
  TableStore store;
  SteppingClock clock;
  Engine engine(std::make_shared<const config::Config>(std::move(config)), store, clock);
  auto senders = transactions(100'000);
  std::vector<std::string> addresses;
  for (int i = 0; i < recipients; ++i) {
    addresses.push_back("rcpt" + std::to_string(i) + "@example.org");
  }
  std::size_t refused = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        TransactionState transaction_state;
        std::size_t next = 0;
        for (auto _ : state) {
          Transaction& transaction = senders[next];
          next = next + 1 == senders.size() ? 0 : next + 1;
          transaction.recipients.clear();
          refused += !(co_await engine.on_mail(transaction_state, transaction)).accepted();
          for (const std::string& address : addresses) {
            if ((co_await engine.on_rcpt(transaction_state, transaction, address)).accepted()) {
              transaction.recipients.push_back(address);
            }
          }
          refused += !(co_await engine.on_data_end(transaction_state, transaction)).accepted();
          refused += static_cast<bool>(co_await engine.commit(transaction_state));
          engine.on_reset(transaction_state);
        }
      },
      asio::detached);
  io.run();
  if (refused != 0) {
    state.SkipWithError("a limit bit: the figure would not be the chain's cost");
  }
  state.SetItemsProcessed(state.iterations() * recipients);
}

void engine_message(benchmark::State& state) {
  config::Config config;
  switch (state.range(0)) {
    case 0:
      state.SetLabel("queue");
      break;
    case 1:
      state.SetLabel("defer");
      config.limits.rate_action = config::RateAction::defer;
      break;
    default:
      state.SetLabel("off");
      config.limits.enabled = false;
      break;
  }
  run_messages(state, config, 1);
}
BENCHMARK(engine_message)->Arg(0)->Arg(1)->Arg(2);

void engine_recipients(benchmark::State& state) {
  run_messages(state, config::Config{}, static_cast<int>(state.range(0)));
}
BENCHMARK(engine_recipients)->Arg(10)->Arg(500);

}  // namespace

BENCHMARK_MAIN();
