// Reply texts in English and Spanish (ASCII only: "tamano", "direccion").
#include "policy_relay/policy/catalog.hpp"

#include <fmt/format.h>

#include <ctime>

namespace policy_relay::policy {
namespace {

struct Texts {
  const char* message_too_big;      // {0} bytes
  const char* too_many_recipients;  // {0} recipients
  const char* too_many_messages;    // {0} per minute, {1} time
  const char* backlog_full;         // {0} messages
  const char* daily_quota;          // {0} per day, {1} time
  const char* null_sender;
  const char* sender_domain;        // {0} domains
  const char* sender_domain_short;  // when the domains do not fit
  const char* domain_separator;
  const char* local_part_too_long;  // {0} characters
  const char* counters_unavailable;
  const char* authentication_required;
  const char* authentication_succeeded;
  const char* authentication_failed;
  const char* authentication_locked;
  const char* sender_not_owned;  // {0} user
};

constexpr Texts kEnglish{
    "Message size exceeds fixed limit of {0} bytes",
    "Too many recipients: at most {0} per message",
    "Too many messages: at most {0} per minute; try again after {1}",
    "Too many messages from this sender waiting for delivery (at most {0}); try again later",
    "Daily quota of {0} recipients reached; enough quota frees at {1}",
    "Null sender not accepted from clients",
    "Sender address not allowed: the domain must be {0}",
    "Sender address not allowed: its domain is not an authorised one",
    " or ",
    "Sender address not allowed: the name before @ has more than {0} characters",
    "Rate counters temporarily unavailable; try again later",
    "Authentication required",
    "Authentication successful",
    "Authentication credentials invalid",
    "Too many failed logins; try again later",
    "Sender address not allowed: user {0} may not send as this address",
};

constexpr Texts kSpanish{
    "El tamano del mensaje excede el limite de {0} bytes",
    "Demasiados destinatarios: maximo {0} por mensaje",
    "Demasiados mensajes: maximo {0} por minuto; intente de nuevo despues de {1}",
    "Demasiados mensajes de este remitente en espera de entrega (maximo {0}); intente mas tarde",
    "Cuota diaria de {0} destinatarios alcanzada; se libera lo suficiente a las {1}",
    "No se acepta el remitente vacio de los clientes",
    "Direccion de remitente no permitida: el dominio debe ser {0}",
    "Direccion de remitente no permitida: su dominio no esta autorizado",
    " o ",
    "Direccion de remitente no permitida: el nombre antes de @ tiene mas de {0} caracteres",
    "Contadores de envio no disponibles por ahora; intente mas tarde",
    "Se requiere autenticacion",
    "Autenticacion correcta",
    "Credenciales de autenticacion invalidas",
    "Demasiados intentos fallidos de acceso; intente mas tarde",
    "Direccion de remitente no permitida: el usuario {0} no puede enviar con esta direccion",
};

constexpr std::size_t kMaxDomainsText = 120;  // keeps the reply line short (RFC 5321 4.5.3.1.5)

const Texts& texts(Language language) {
  return language == Language::es ? kSpanish : kEnglish;
}

}  // namespace

Language language_from_name(std::string_view name) {
  return name == "es" ? Language::es : Language::en;
}

std::string Catalog::format_utc(TimePoint time) {
  // Round up: a client told "after 04:40:00" must not be refused again at 04:40:00.
  auto seconds = std::chrono::ceil<std::chrono::seconds>(time.time_since_epoch()).count();
  const std::time_t when = static_cast<std::time_t>(seconds);
  std::tm utc{};
  gmtime_r(&when, &utc);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC", utc.tm_year + 1900, utc.tm_mon + 1,
                     utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
}

std::string Catalog::message_too_big(std::uint64_t limit_bytes) const {
  return fmt::format(fmt::runtime(texts(language_).message_too_big), limit_bytes);
}

std::string Catalog::too_many_recipients(std::uint32_t limit) const {
  return fmt::format(fmt::runtime(texts(language_).too_many_recipients), limit);
}

std::string Catalog::too_many_messages(std::uint32_t per_minute, TimePoint retry) const {
  return fmt::format(fmt::runtime(texts(language_).too_many_messages), per_minute,
                     format_utc(retry));
}

std::string Catalog::backlog_full(std::uint32_t backlog) const {
  return fmt::format(fmt::runtime(texts(language_).backlog_full), backlog);
}

std::string Catalog::daily_quota(std::uint32_t per_day, TimePoint frees_at) const {
  return fmt::format(fmt::runtime(texts(language_).daily_quota), per_day, format_utc(frees_at));
}

std::string Catalog::null_sender() const {
  return texts(language_).null_sender;
}

std::string Catalog::sender_domain_not_allowed(const std::vector<std::string>& allowed) const {
  const Texts& t = texts(language_);
  std::string domains;
  for (const std::string& domain : allowed) {
    if (!domains.empty()) {
      domains += t.domain_separator;
    }
    domains += domain;
  }
  // The loader admits only ASCII host names, but the text must never depend on that.
  const bool printable =
      domains.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.- ") == std::string::npos;
  if (domains.empty() || domains.size() > kMaxDomainsText || !printable) {
    return t.sender_domain_short;
  }
  return fmt::format(fmt::runtime(t.sender_domain), domains);
}

std::string Catalog::local_part_too_long(std::uint32_t limit) const {
  return fmt::format(fmt::runtime(texts(language_).local_part_too_long), limit);
}

std::string Catalog::counters_unavailable() const {
  return texts(language_).counters_unavailable;
}

std::string Catalog::authentication_required() const {
  return texts(language_).authentication_required;
}

std::string Catalog::authentication_succeeded() const {
  return texts(language_).authentication_succeeded;
}

std::string Catalog::authentication_failed() const {
  return texts(language_).authentication_failed;
}

std::string Catalog::authentication_locked() const {
  return texts(language_).authentication_locked;
}

std::string Catalog::sender_not_owned(std::string_view user) const {
  // The user name came from the client: printable ASCII only on the wire.
  std::string shown;
  for (const char c : user.substr(0, 64)) {
    shown += c > 0x20 && c < 0x7f ? c : '?';
  }
  return fmt::format(fmt::runtime(texts(language_).sender_not_owned), shown);
}

}  // namespace policy_relay::policy
