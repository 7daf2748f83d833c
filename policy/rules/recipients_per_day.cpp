// POLICY VI.4: at most 10,000 recipients per sender in a rolling 24 h, every recipient counted
// each time (as Exchange Online counts). Each RCPT reserves one unit against what is spent plus
// what the sender's open transactions hold, so racing sessions never overshoot; the units are
// committed with the message and given back when it is not accepted.
#include <array>

#include "rules.hpp"

namespace policy_relay::policy::rules {
namespace {

constexpr std::array<unsigned, 2> kWarningPercents{80, 95};

class RecipientsPerDay final : public Rule {
 public:
  std::string_view name() const override { return "recipients_per_day"; }
  std::string_view clause() const override { return "VI.4"; }
  bool waits() const override { return true; }  // on the counter store
  unsigned stages() const override { return stage_rcpt; }

  boost::asio::awaitable<Verdict> on_rcpt(RuleContext& context, std::string_view) override {
    const config::LimitsConfig& limits = context.sender.limits;
    const ReserveResult result = co_await context.store.try_reserve(
        context.transaction.identity, Counter::recipients_per_day, 1, limits.recipients_per_day,
        context.now);
    if (result.error) {
      co_return refuse(Decision::defer, 451, "4.3.0", context.catalog.counters_unavailable());
    }
    if (!result.granted) {
      const bool reject = limits.daily_action == config::DailyAction::reject;
      Verdict verdict =
          refuse(reject ? Decision::reject : Decision::defer, reject ? 550 : 451,
                 reject ? "5.7.1" : "4.7.1",
                 context.catalog.daily_quota(limits.recipients_per_day, result.frees_at));
      verdict.reference = context.sender.reference_for(key_recipients_per_day | key_daily_action);
      co_return verdict;
    }
    context.state.recipients.push_back(result.reservation);
    const std::uint64_t used = result.used + 1;
    for (unsigned percent : kWarningPercents) {
      // The first unit at or over the threshold (rounded up) crosses it.
      const std::uint64_t threshold =
          (static_cast<std::uint64_t>(limits.recipients_per_day) * percent + 99) / 100;
      if (result.used < threshold && used >= threshold) {
        context.state.quota_warnings.push_back({percent, used, limits.recipients_per_day});
      }
    }
    if (used > context.defaults.limits.recipients_per_day) {
      note_exception(context, name());
    }
    co_return Verdict::accept();
  }
};

}  // namespace

std::unique_ptr<Rule> make_recipients_per_day() {
  return std::make_unique<RecipientsPerDay>();
}

}  // namespace policy_relay::policy::rules
