#include "policy_relay/server/advice_notifier.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include "policy_relay/delivery/scheduler.hpp"
#include "policy_relay/log/log.hpp"
#include "policy_relay/spool/spool.hpp"
#include "policy_relay/spool/spool_files.hpp"
#include "policy_relay/util/posix_io.hpp"
#include "policy_relay/util/rfc5322_date.hpp"

namespace asio = boost::asio;

namespace policy_relay::server {

// ---- NoticeLog ----

NoticeLog::NoticeLog(std::string path, std::chrono::seconds interval)
    : path_(std::move(path)), interval_(interval) {}

NoticeLog::~NoticeLog() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void NoticeLog::load(std::int64_t now) {
  last_.clear();
  for (const std::string& line : spool::read_lines(path_)) {
    const std::size_t space = line.find(' ');
    std::int64_t when = 0;
    const auto parsed =
        std::from_chars(line.data(), line.data() + std::min(space, line.size()), when);
    if (space == std::string::npos || parsed.ec != std::errc{} || line.size() == space + 1) {
      continue;  // a torn last line (kill -9 mid-write)
    }
    if (now - when < interval_.count()) {
      std::int64_t& last = last_[line.substr(space + 1)];
      last = std::max(last, when);
    }
  }
  std::string compacted;
  for (const auto& [key, when] : last_) {
    compacted.append(std::to_string(when)).append(" ").append(key).append("\n");
  }
  if (auto ec = spool::replace_file(path_, compacted)) {
    throw std::runtime_error("cannot write " + path_ + ": " + ec.message());
  }
  if (fd_ >= 0) {
    ::close(fd_);
  }
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) {
    throw std::runtime_error("cannot open " + path_ + ": " + std::strerror(errno));
  }
  prune_at_ = std::max<std::size_t>(1024, last_.size() * 2);
}

void NoticeLog::prune(std::int64_t now) {
  std::erase_if(last_, [&](const auto& entry) { return now - entry.second >= interval_.count(); });
  prune_at_ = std::max<std::size_t>(1024, last_.size() * 2);
}

bool NoticeLog::claim(std::string_view rule, std::string_view identity, std::int64_t now) {
  std::string key(rule);
  key.append(" ").append(identity);
  const auto found = last_.find(key);
  if (found != last_.end() && now - found->second < interval_.count()) {
    return false;
  }
  last_[key] = now;
  if (last_.size() >= prune_at_) {
    prune(now);
  }
  if (fd_ >= 0) {
    const std::string line = std::to_string(now) + " " + key + "\n";
    if (auto ec = util::write_all(fd_, line)) {
      log::Event("internal_error", log::Level::error)
          .add("where", "notice_log.append")
          .add("error", ec.message());
    }
  }
  return true;
}

// ---- the notice ----

std::string build_notice_message(const Notice& notice) {
  std::string message;
  message.append("From: <").append(notice.from).append(">\r\n");
  message.append("To: <").append(notice.to).append(">\r\n");
  message.append("Subject: ").append(notice.subject).append("\r\n");
  message.append("Date: ").append(util::format_rfc5322_date(notice.now)).append("\r\n");
  message.append("Message-ID: <")
      .append(notice.message_id)
      .append("@")
      .append(notice.hostname)
      .append(">\r\n");
  message.append("Auto-Submitted: auto-generated\r\n");  // RFC 3834 5
  message.append("MIME-Version: 1.0\r\n");
  message.append("Content-Type: text/plain; charset=us-ascii\r\n");
  message.append("Content-Transfer-Encoding: 7bit\r\n\r\n");
  message.append(notice.body).append("\r\n");
  return message;
}

// ---- AdviceNotifier ----

AdviceNotifier::AdviceNotifier(asio::any_io_executor executor, spool::Spool& spool,
                               delivery::Scheduler& scheduler, NoticeLog& log,
                               const policy::Clock& clock, Config config,
                               policy::CounterStore* shared)
    : executor_(std::move(executor)),
      spool_(spool),
      scheduler_(scheduler),
      log_(log),
      clock_(clock),
      config_(std::move(config)),
      shared_(shared) {}

void AdviceNotifier::notify(std::string_view rule, const std::string& identity,
                            const std::string& sender, const std::string& for_id,
                            std::string subject, std::string body) {
  if (sender.empty()) {
    return;  // the null sender gets no mail (RFC 5321 4.5.5); clients cannot use it here anyway
  }
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch()).count();
  Notice notice;
  notice.from = config_.from;
  notice.to = sender;
  notice.subject = std::move(subject);
  notice.body = std::move(body);
  notice.hostname = config_.hostname;
  notice.message_id = "advice." + for_id + "." + std::to_string(++sequence_);
  notice.now = now;
  asio::co_spawn(executor_,
                 claim_and_send(std::string(rule), identity, sender, for_id,
                                build_notice_message(notice), now),
                 asio::detached);
}

asio::awaitable<AdviceNotifier::Claim> AdviceNotifier::claim(std::string rule, std::string identity,
                                                             std::int64_t now) {
  if (shared_ == nullptr) {
    co_return log_.claim(rule, identity, now) ? Claim::claimed : Claim::already_notified;
  }
  const policy::MarkResult mark =
      co_await shared_->put_mark("notify:" + rule + ":" + identity, "1", std::chrono::hours(24),
                                 true, policy::TimePoint(std::chrono::seconds(now)));
  if (mark.error) {
    co_return Claim::state_unavailable;
  }
  co_return mark.stored ? Claim::claimed : Claim::already_notified;
}

asio::awaitable<void> AdviceNotifier::claim_and_send(std::string rule, std::string identity,
                                                     std::string sender, std::string for_id,
                                                     std::string message, std::int64_t now) {
  const Claim claimed = co_await claim(rule, identity, now);
  if (claimed != Claim::claimed) {
    const bool unavailable = claimed == Claim::state_unavailable;
    log::Event("advice_notice", unavailable ? log::Level::warn : log::Level::info)
        .add("for", for_id)
        .add("rule", rule)
        .add("to", sender)
        .add("sent", false)
        .add("reason", unavailable ? "state_unavailable" : "already_notified");
    co_return;
  }
  co_await send(std::move(rule), std::move(sender), std::move(for_id), std::move(message));
}

asio::awaitable<void> AdviceNotifier::send(std::string rule, std::string sender, std::string for_id,
                                           std::string message) {
  Envelope envelope;
  envelope.sender = config_.from;
  envelope.recipients = {sender};
  envelope.client_address = "127.0.0.1";
  envelope.helo = config_.hostname;
  envelope.received_at =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch()).count();
  if (auto ec = co_await spool_.store(envelope, message, executor_)) {
    log::Event("internal_error", log::Level::error)
        .add("where", "advice_notice.store")
        .add("for", for_id)
        .add("error", ec.message());
    co_return;
  }
  log::Event("advice_notice")
      .add("id", envelope.id)
      .add("for", for_id)
      .add("rule", rule)
      .add("to", sender)
      .add("sent", true);
  spool::StoredMessage stored;
  if (!spool_.load(envelope.id, stored)) {
    scheduler_.enqueue(std::move(stored));
  }
}

}  // namespace policy_relay::server
