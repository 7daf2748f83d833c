#include "policy_relay/server/server.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <exception>
#include <system_error>

#include "policy_relay/log/log.hpp"
#include "policy_relay/server/proxy_header.hpp"

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;
using boost::asio::ip::tcp;

namespace policy_relay::server {

namespace {

constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);

std::string format_endpoint(const std::string& address, std::uint16_t port) {
  return address.find(':') != std::string::npos ? "[" + address + "]:" + std::to_string(port)
                                                : address + ":" + std::to_string(port);
}

std::string format_endpoint(const tcp::endpoint& endpoint) {
  return format_endpoint(endpoint.address().to_string(), endpoint.port());
}

void log_exception(std::string_view where, std::exception_ptr error) {
  if (!error) {
    return;
  }
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    log::Event("internal_error", log::Level::error).add("where", where).add("what", e.what());
  }
}

}  // namespace

Server::Server(asio::io_context& io, config::ConfigPtr config, SessionServices services) : io_(io) {
  install(std::make_shared<Generation>(Generation{std::move(config), services, {}}));
}

Server::Server(asio::io_context& io, GenerationPtr generation) : io_(io) {
  install(std::move(generation));
}

void Server::replace(GenerationPtr generation) {
  install(std::move(generation));
}

void Server::install(GenerationPtr generation) {
  generation->services.read_buffers = read_buffers_;
  generation_ = std::move(generation);
}

void Server::bind(const config::ListenAddress& listen, bool implicit_tls) {
  const tcp::endpoint endpoint(asio::ip::make_address(listen.host), listen.port);
  auto acceptor = std::make_unique<tcp::acceptor>(io_);
  acceptor->open(endpoint.protocol());
  acceptor->set_option(tcp::acceptor::reuse_address(true));
  if (endpoint.address().is_v6()) {
    acceptor->set_option(asio::ip::v6_only(true));
  }
  acceptor->bind(endpoint);
  // A large backlog: bursts of hundreds of clients must queue, not be refused.
  acceptor->listen(asio::socket_base::max_listen_connections);
  log::Event("listening")
      .add("address", format_endpoint(acceptor->local_endpoint()))
      .add("tls", implicit_tls ? "implicit"
                               : (generation_->services.tls != nullptr ? "starttls" : "none"));
  acceptors_.emplace_back(std::move(acceptor), implicit_tls);
}

void Server::start() {
  for (const auto& listen : generation_->config->server.listen) {
    bind(listen, false);
  }
  for (const auto& listen : generation_->config->server.listen_tls) {
    bind(listen, true);  // RFC 8314 3.3: implicit TLS (submissions, port 465)
  }
  for (auto& [acceptor, implicit_tls] : acceptors_) {
    asio::co_spawn(io_, accept_loop(*acceptor, implicit_tls),
                   [](std::exception_ptr error) { log_exception("accept_loop", error); });
  }
}

asio::awaitable<void> Server::accept_loop(tcp::acceptor& acceptor, bool implicit_tls) {
  asio::steady_timer backoff(io_);
  tcp::endpoint remote;  // filled by accept(2) itself
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor.async_accept(remote, as_tuple_awaitable);
    if (stopping_) {
      break;
    }
    if (ec) {
      if (ec == asio::error::operation_aborted) {
        break;
      }
      // EMFILE and friends: wait a little instead of spinning.
      log::Event("accept_error", log::Level::warn).add("error", ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(as_tuple_awaitable);
      continue;
    }
    launch(std::move(socket), remote, implicit_tls);
  }
}

const auth::NetworkList& Server::proxy_networks() {
  const config::Config* config = generation_->config.get();
  if (config != proxy_networks_from_) {
    proxy_networks_ = auth::NetworkList::from(config->server.proxy_networks);  // validated
    proxy_networks_from_ = config;
  }
  return proxy_networks_;
}

void Server::launch(tcp::socket socket, const tcp::endpoint& remote, bool implicit_tls) {
  const std::string address = remote.address().to_string();
  if (!generation_->config->server.proxy_protocol) {
    admit(std::move(socket), ClientEndpoint{address, format_endpoint(remote), ""}, implicit_tls);
    return;
  }
  if (!proxy_networks().contains(remote.address())) {
    log::Event("reject", log::Level::warn)
        .add("client", format_endpoint(remote))
        .add("rule", "proxy_networks")
        .add("detail", "server.proxy_protocol is on and this address is not a proxy");
    boost::system::error_code ignored;
    socket.close(ignored);
    return;
  }
  asio::co_spawn(io_, accept_proxied(std::move(socket), remote, implicit_tls),
                 [](std::exception_ptr error) { log_exception("accept_proxied", error); });
}

// Peeks at what has arrived and consumes only what belongs to the header, so whatever follows
// it (a TLS ClientHello on server.listen_tls, an early command) stays for the session.
asio::awaitable<void> Server::accept_proxied(tcp::socket socket, tcp::endpoint remote,
                                             bool implicit_tls) {
  std::string peer = format_endpoint(remote);
  ProxyHeaderParser parser;
  std::array<char, ProxyHeaderParser::default_v2_max_size> buffer;
  asio::steady_timer deadline(io_);
  deadline.expires_after(generation_->config->server.proxy_timeout);
  std::string failure;
  boost::system::error_code ec;
  socket.non_blocking(true, ec);
  while (parser.status() == ProxyHeaderParser::Status::need_more && failure.empty() && !ec) {
    auto result = co_await (socket.async_wait(tcp::socket::wait_read, as_tuple_awaitable) ||
                            deadline.async_wait(as_tuple_awaitable));
    if (result.index() == 1) {
      failure = "no complete PROXY header within server.proxy_timeout";
      break;
    }
    const std::size_t peeked = socket.receive(asio::buffer(buffer), tcp::socket::message_peek, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      ec = {};
      continue;
    }
    if (ec || peeked == 0) {
      failure = "connection ended before the PROXY header did";
      break;
    }
    ProxyHeaderParser trial = parser;
    const auto status = trial.feed(std::string_view(buffer.data(), peeked));
    if (status == ProxyHeaderParser::Status::error) {
      failure = trial.error();
      break;
    }
    // Everything peeked is header while it is incomplete; once complete, all but the leftover.
    const std::size_t take = peeked - trial.leftover().size();
    std::size_t taken = 0;
    while (taken < take && !ec) {
      taken += socket.receive(asio::buffer(buffer.data(), take - taken), 0, ec);
    }
    parser = std::move(trial);
  }
  socket.non_blocking(false, ec);
  if (!failure.empty() || ec || stopping_) {
    socket.close(ec);
    if (!failure.empty()) {
      log::Event("proxy_error", log::Level::warn).add("via", peer).add("error", failure);
    }
    co_return;
  }
  const ProxyHeader& header = parser.header();
  ClientEndpoint client;
  if (header.local) {
    // LOCAL / UNKNOWN (health checks): the proxy itself is the client.
    client.address = remote.address().to_string();
    client.endpoint = peer;
  } else {
    client.address = header.source_address;
    client.endpoint = format_endpoint(header.source_address, header.source_port);
  }
  client.via = std::move(peer);
  admit(std::move(socket), std::move(client), implicit_tls);
}

void Server::admit(tcp::socket socket, ClientEndpoint client, bool implicit_tls) {
  const std::string address = client.address;
  const GenerationPtr generation = generation_;
  const auto& limits = generation->config->server;
  if (sessions_.size() >= limits.max_connections) {
    refuse(std::move(socket), client.endpoint, "max_connections",
           "Too many connections, try again later");
    return;
  }
  auto& per_ip = sessions_per_ip_[address];
  if (per_ip >= limits.max_connections_per_ip) {
    refuse(std::move(socket), client.endpoint, "max_connections_per_ip",
           "Too many connections from your address");
    return;
  }
  ++per_ip;
  auto session = std::make_shared<Session>(std::move(socket), std::move(client), generation->config,
                                           generation->services, next_session_number_++,
                                           implicit_tls, generation);
  sessions_.push_front(session);
  const auto position = sessions_.begin();
  asio::co_spawn(io_, session->run(), [this, position, address](std::exception_ptr error) {
    log_exception("session", error);
    sessions_.erase(position);
    const auto counter = sessions_per_ip_.find(address);
    if (counter != sessions_per_ip_.end() && --counter->second == 0) {
      sessions_per_ip_.erase(counter);
    }
  });
}

void Server::refuse(tcp::socket socket, const std::string& client, std::string_view rule,
                    std::string_view text) {
  log::Event("reject").add("client", client).add("rule", rule).add("code", 421);
  std::string reply =
      "421 4.7.0 " + generation_->config->server.hostname + " " + std::string(text) + "\r\n";
  asio::co_spawn(io_, send_and_close(std::move(socket), std::move(reply)), asio::detached);
}

asio::awaitable<void> Server::send_and_close(tcp::socket socket, std::string reply) {
  asio::steady_timer deadline(io_);
  deadline.expires_after(std::chrono::seconds(5));
  co_await (asio::async_write(socket, asio::buffer(reply), as_tuple_awaitable) ||
            deadline.async_wait(as_tuple_awaitable));
  boost::system::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

void Server::begin_shutdown() {
  stopping_ = true;
  for (auto& [acceptor, implicit_tls] : acceptors_) {
    boost::system::error_code ignored;
    acceptor->close(ignored);
  }
  for (auto& session : sessions_) {
    session->request_shutdown();
  }
}

void Server::close_all() {
  for (auto& session : sessions_) {
    session->force_close();
  }
}

}  // namespace policy_relay::server
