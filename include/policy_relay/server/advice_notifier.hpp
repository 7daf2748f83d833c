#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "policy_relay/policy/clock.hpp"
#include "policy_relay/policy/counter_store.hpp"

namespace policy_relay::spool {
class Spool;
}
namespace policy_relay::delivery {
class Scheduler;
}

namespace policy_relay::server {

// When each sender last got an advisory mail for each rule (advice action "notify", POLICY
// VI.11, VI.12), durable across restarts and kill -9: one line "UNIX-SECONDS RULE IDENTITY"
// appended per notice to a file under [state] directory (write(2), no fsync: a power loss may
// at worst repeat one notice). Entries older than the interval are dropped when the file is
// loaded, which rewrites it compacted.
class NoticeLog {
 public:
  NoticeLog(std::string path, std::chrono::seconds interval);
  ~NoticeLog();
  NoticeLog(const NoticeLog&) = delete;
  NoticeLog& operator=(const NoticeLog&) = delete;

  // Reads and compacts the file; throws std::runtime_error when it cannot be written.
  void load(std::int64_t now);
  // True, and recorded, when `identity` got no notice for `rule` within the interval before
  // `now`; false when it did (nothing recorded).
  bool claim(std::string_view rule, std::string_view identity, std::int64_t now);

 private:
  void prune(std::int64_t now);

  std::string path_;
  std::chrono::seconds interval_;
  int fd_ = -1;
  std::unordered_map<std::string, std::int64_t> last_;  // "RULE IDENTITY" -> unix seconds
  std::size_t prune_at_ = 1024;
};

// The advisory mail: RFC 5322 text with CRLF line ends, plain ASCII, Auto-Submitted (RFC 3834)
// so that auto-responders do not answer it.
struct Notice {
  std::string from;        // advice.notify_from
  std::string to;          // the sender's address
  std::string subject;     // printable ASCII
  std::string body;        // printable ASCII, CRLF line ends
  std::string hostname;    // for the Message-ID
  std::string message_id;  // left of "@"
  std::int64_t now = 0;
};
std::string build_notice_message(const Notice& notice);

// Sends notices: claims the sender's slot for the rule, stores the mail in the spool like any
// message (sender notify_from, one recipient) and hands it to the scheduler, which sends it
// through the upstream. Runs on the event loop; notify() returns at once.
//
// The slot is claimed in the NoticeLog (one relay), or, when `shared` is given ([state]
// backend = "redis", issue 7), as a mark "notify:RULE:IDENTITY" set only if absent with a 24 h
// expiry, so that every relay of a cluster sends one notice between them. A mark that cannot
// be set (Redis unreachable with redis_unavailable = "defer") sends nothing: a missed notice
// is better than one per relay.
class AdviceNotifier {
 public:
  struct Config {
    std::string from;
    std::string hostname;
  };

  AdviceNotifier(boost::asio::any_io_executor executor, spool::Spool& spool,
                 delivery::Scheduler& scheduler, NoticeLog& log, const policy::Clock& clock,
                 Config config, policy::CounterStore* shared = nullptr);

  // For the message `for_id` of `identity`, sent by `sender`: a notice unless one for `rule`
  // went to `identity` within the interval.
  void notify(std::string_view rule, const std::string& identity, const std::string& sender,
              const std::string& for_id, std::string subject, std::string body);

 private:
  enum class Claim { claimed, already_notified, state_unavailable };
  boost::asio::awaitable<Claim> claim(std::string rule, std::string identity, std::int64_t now);
  boost::asio::awaitable<void> claim_and_send(std::string rule, std::string identity,
                                              std::string sender, std::string for_id,
                                              std::string message, std::int64_t now);
  boost::asio::awaitable<void> send(std::string rule, std::string sender, std::string for_id,
                                    std::string message);

  boost::asio::any_io_executor executor_;
  spool::Spool& spool_;
  delivery::Scheduler& scheduler_;
  NoticeLog& log_;
  const policy::Clock& clock_;
  Config config_;
  policy::CounterStore* shared_;
  std::uint64_t sequence_ = 0;
};

}  // namespace policy_relay::server
