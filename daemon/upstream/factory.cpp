#include "policy_relay/upstream/factory.hpp"

#include <chrono>
#include <stdexcept>

#include "policy_relay/log/log.hpp"
#include "policy_relay/upstream/directory_upstream.hpp"
#include "policy_relay/upstream/dsn.hpp"
#include "policy_relay/upstream/smtp_upstream.hpp"

namespace policy_relay::upstream {

std::unique_ptr<Upstream> make_upstream(const config::Config& config,
                                        boost::asio::any_io_executor executor) {
  if (config.upstream.mode == config::UpstreamMode::directory) {
    DirectoryUpstream::Config directory;
    directory.directory = config.upstream.directory;
    return std::make_unique<DirectoryUpstream>(directory);
  }
  // Until the upstream side speaks TLS and AUTH, refuse to start rather than send in plaintext
  // what the operator asked to protect (POLICY VII.3: never a silent downgrade).
  if (config.upstream.tls != config::UpstreamTls::none ||
      config.upstream.auth != config::UpstreamAuth::none) {
    throw std::runtime_error(
        "upstream.tls and upstream.auth are not implemented yet in this build; set "
        "tls = \"none\" and auth = \"none\", or mode = \"directory\"");
  }
  return std::make_unique<SmtpUpstream>(
      std::move(executor), SmtpUpstream::Config::from(config.upstream, config.server.hostname));
}

delivery::Scheduler::BounceBuilder make_bounce_builder(const config::Config& config) {
  return [hostname = config.server.hostname](const spool::StoredMessage& original,
                                             const std::vector<RecipientResult>& failed,
                                             bool expired) -> std::optional<Dsn> {
    DsnRequest request;
    request.reporting_mta = hostname;
    request.original = original.envelope;
    request.failed = failed;
    request.reason = expired ? DsnReason::expired : DsnReason::rejected;
    request.now = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    if (auto ec = read_header_block(original, request.original_headers)) {
      // The report still goes out, without the original headers.
      log::Event("internal_error", log::Level::warn)
          .add("where", "dsn.read_header_block")
          .add("id", original.envelope.id)
          .add("error", ec.message());
    }
    return build_dsn(request);
  };
}

}  // namespace policy_relay::upstream
