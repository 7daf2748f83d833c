#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

// Suspended senders (POLICY IV.2, VII.4): set by the abuse detector or `policy-relayctl
// suspend`, lifted only by `policy-relayctl resume`, and durable across restarts.
// Backend-neutral: the local backend keeps a file under [state] directory
// (ops::FileSuspensionStore); a shared backend (Redis marks) implements the same interface.
namespace policy_relay::policy {

struct Suspension {
  std::string identity;    // the sender identity (lower-cased)
  std::string reason;      // the operator's --reason, or what tripped the detector
  std::string source;      // "operator" | "abuse"
  std::int64_t since = 0;  // unix seconds
  std::string evidence;    // abuse: trigger=... count=... window=...
};

class SuspensionStore {
 public:
  virtual ~SuspensionStore() = default;
  // Answered from memory: asked at every MAIL. Null when the identity is not suspended.
  virtual const Suspension* find(std::string_view identity) const = 0;
  virtual std::vector<Suspension> list() const = 0;
  // Complete once the change is durable (survives kill -9 and a restart). suspend() of an
  // identity already suspended keeps the first record and reports no error.
  virtual boost::asio::awaitable<std::error_code> suspend(Suspension suspension) = 0;
  // `existed` says whether there was a suspension to lift.
  virtual boost::asio::awaitable<std::error_code> resume(std::string identity, bool& existed) = 0;
};

}  // namespace policy_relay::policy
