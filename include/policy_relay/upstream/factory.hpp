#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <memory>

#include "policy_relay/config/config.hpp"
#include "policy_relay/delivery/scheduler.hpp"
#include "policy_relay/upstream/upstream.hpp"

namespace policy_relay::upstream {

// The upstream that [upstream] mode names: SmtpUpstream (mode = "smtp") or DirectoryUpstream
// (mode = "directory").
std::unique_ptr<Upstream> make_upstream(const config::Config& config,
                                        boost::asio::any_io_executor executor);

// The scheduler's DSN builder for this configuration (RFC 3464 report from the relay's host).
delivery::Scheduler::BounceBuilder make_bounce_builder(const config::Config& config);

}  // namespace policy_relay::upstream
