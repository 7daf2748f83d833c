#include "policy_relay/upstream/factory.hpp"

#include <chrono>
#include <stdexcept>

#include <stdexcept>
#include "policy_relay/tls/contexts.hpp"
#include "policy_relay/upstream/oauth2_token_source.hpp"

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
  SmtpUpstream::Config smtp = SmtpUpstream::Config::from(config.upstream, config.server.hostname);
  const config::UpstreamConfig& upstream = config.upstream;
  if (upstream.tls != config::UpstreamTls::none) {
    smtp.tls_context = tls::make_client_context(upstream.ca_file);
    smtp.implicit_tls = upstream.tls == config::UpstreamTls::implicit;
  }
  switch (upstream.auth) {
    case config::UpstreamAuth::none:
      break;
    case config::UpstreamAuth::plain:
    case config::UpstreamAuth::login:
      smtp.auth_mechanism = upstream.auth == config::UpstreamAuth::plain ? "PLAIN" : "LOGIN";
      smtp.auth_username = upstream.username;
      smtp.auth_password = read_secret_file(upstream.password_file, "upstream.password_file");
      break;
    case config::UpstreamAuth::xoauth2:
      smtp.auth_mechanism = "XOAUTH2";
      smtp.auth_username = upstream.username;
      smtp.tokens = make_oauth2_token_source(executor, upstream);
      break;
  }
  return std::make_unique<SmtpUpstream>(std::move(executor), std::move(smtp));
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
