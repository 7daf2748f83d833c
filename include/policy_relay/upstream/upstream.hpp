#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>
#include <vector>

#include "policy_relay/smtp/reply.hpp"
#include "policy_relay/spool/spool.hpp"

namespace policy_relay::upstream {

// What the upstream said about one recipient of one attempt.
struct RecipientResult {
  std::string recipient;
  smtp::Reply reply;  // 2xx delivered, 4xx try again later, 5xx bounce
};

struct DeliveryResult {
  // One entry per recipient that was attempted, in the order given.
  std::vector<RecipientResult> recipients;
  // The reply or local error that decided the attempt as a whole, for the log
  // (e.g. "250 2.0.0 Ok", "connect: Connection refused").
  std::string summary;
  // The upstream's own id of the accepted message, when its reply showed one ("queued as ...").
  std::string upstream_reply;
};

// Where accepted mail goes (DESIGN.md "Upstream"). deliver() never throws for network or
// protocol failures: they come back as 4xx results for every recipient (a connection error is
// "451 4.4.1 ..." with the error text), so the scheduler retries them.
class Upstream {
 public:
  virtual ~Upstream() = default;

  // Delivers `message` to `recipients` (a subset of its envelope's recipients: those not done).
  // At most upstream.connections calls run at once (the scheduler's workers).
  virtual boost::asio::awaitable<DeliveryResult> deliver(const spool::StoredMessage& message,
                                                         std::vector<std::string> recipients) = 0;

  // Closes idle pooled connections (QUIT) and makes later deliver() calls fail fast (4xx).
  virtual void shutdown() = 0;
};

}  // namespace policy_relay::upstream
