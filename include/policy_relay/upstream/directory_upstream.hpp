#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <string>
#include <vector>

#include "policy_relay/upstream/upstream.hpp"

namespace policy_relay::upstream {

// [upstream] mode = "directory" (first run, staging, tests): each delivery becomes two files
// in `directory`, written atomically (hidden temporary, fsync, rename, directory fsync):
//   ID.envelope.json  {"id":..,"sender":..,"recipients":[..],"received_at":unix seconds},
//                     the recipients of this delivery; renamed into place first
//   ID.eml            the message octets exactly as spooled; renamed last
// so a reader that sees ID.eml finds its envelope, also after a crash. A later delivery of the
// same message (other recipients, after a retry) replaces both.
// The blocking file work runs on a private thread pool; deliver() only awaits it.
class DirectoryUpstream final : public Upstream {
 public:
  struct Config {
    std::string directory;
    std::size_t threads = 2;  // concurrent writes (each pays two file and two directory fsyncs)
  };

  // Creates `directory` (mode 0750) when it does not exist; failures surface in deliver().
  // The completion of deliver() runs on the awaiting coroutine's executor.
  explicit DirectoryUpstream(Config config);
  ~DirectoryUpstream() override;  // waits for writes in progress
  DirectoryUpstream(const DirectoryUpstream&) = delete;
  DirectoryUpstream& operator=(const DirectoryUpstream&) = delete;

  // "250 2.0.0 Ok: delivered as DIR/ID.eml" for every recipient, or "451 4.3.0 <what>: <errno
  // text>" for every recipient when a file could not be written.
  boost::asio::awaitable<DeliveryResult> deliver(const spool::StoredMessage& message,
                                                 std::vector<std::string> recipients) override;

  // Later deliveries fail with 451 4.3.2; writes in progress finish.
  void shutdown() override;

 private:
  Config config_;
  boost::asio::thread_pool workers_;
  bool shutting_down_ = false;
};

}  // namespace policy_relay::upstream
