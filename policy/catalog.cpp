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
  const char* too_many_visible;  // {0} visible, {1} threshold
  const char* uncompressed;      // {0} bytes
  const char* public_mass_mail;  // {0} recipients
  const char* protected_list;
  const char* from_mismatch;
  const char* notice_subject;
  const char* bcc_notice;         // {0} visible, {1} threshold
  const char* attachment_notice;  // {0} file name, {1} size, {2} threshold
  const char* account_disabled;
  const char* sender_suspended;
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
    "Too many visible recipients ({0} in To and Cc, at most {1}): put them in Bcc (policy VI.11)",
    "Attachment over {0} bytes not compressed: compress it (zip) and send again (policy VI.12)",
    "Too many recipients at public mail providers: at most {0} per message without "
    "authorisation (policy VI.9)",
    "Sending to this list needs the authorisation of the DGSEI head (policy VI.8)",
    "The From header must be your own address or one of your aliases (policy VII.1)",
    "Advice on a message you sent: institutional e-mail policy",
    "Your message was sent to {0} addresses in To and Cc.\r\n\r\n"
    "The institutional e-mail policy (VI.11) says: those expected to answer go in To, "
    "informative copies in Cc, and a message to more than {1} recipients should use Bcc, "
    "so that the addresses of the recipients are not shown to everyone.\r\n\r\n"
    "Your message was delivered. This advice is sent at most once a day.",
    "Your message carried the attachment \"{0}\" of {1} bytes, not compressed.\r\n\r\n"
    "The institutional e-mail policy (VI.12) says: files larger than 1 MB should be "
    "compressed (for example as .zip) before sending; this relay advises above {2} bytes."
    "\r\n\r\nYour message was delivered. This advice is sent at most once a day.",
    "Sender account disabled; ask the mail administrator",
    "Sender suspended for excessive traffic; ask the mail administrator",
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
    "Demasiados destinatarios visibles ({0} en Para y CC, maximo {1}): use CCO (politica VI.11)",
    "Adjunto de mas de {0} bytes sin comprimir: comprimalo (zip) y envie de nuevo "
    "(politica VI.12)",
    "Demasiados destinatarios en proveedores publicos: maximo {0} por mensaje sin "
    "autorizacion (politica VI.9)",
    "Enviar a esta lista requiere autorizacion del titular de la DGSEI (politica VI.8)",
    "El encabezado From debe ser su propia direccion o uno de sus alias (politica VII.1)",
    "Aviso sobre un mensaje que envio: politica de correo institucional",
    "Su mensaje se envio a {0} direcciones en Para y CC.\r\n\r\n"
    "La politica de correo institucional (VI.11) indica: a quienes se espera respuesta van en "
    "Para, las copias informativas en CC, y con mas de {1} destinatarios se debe usar CCO, "
    "para no mostrar a todos las direcciones de los destinatarios.\r\n\r\n"
    "Su mensaje fue entregado. Este aviso se envia como maximo una vez al dia.",
    "Su mensaje llevaba el adjunto \"{0}\" de {1} bytes, sin comprimir.\r\n\r\n"
    "La politica de correo institucional (VI.12) indica: los archivos de mas de 1 MB deben "
    "comprimirse (por ejemplo en .zip) antes de enviarse; este relay avisa arriba de {2} bytes."
    "\r\n\r\nSu mensaje fue entregado. Este aviso se envia como maximo una vez al dia.",
    "Cuenta del remitente dada de baja; consulte al administrador del correo",
    "Remitente suspendido por trafico excesivo; consulte al administrador del correo",
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

std::string Catalog::account_disabled() const {
  return texts(language_).account_disabled;
}

std::string Catalog::sender_suspended() const {
  return texts(language_).sender_suspended;
}

}  // namespace policy_relay::policy

namespace policy_relay::policy {

std::string Catalog::too_many_visible_recipients(std::size_t visible,
                                                 std::uint32_t threshold) const {
  return fmt::format(fmt::runtime(texts(language_).too_many_visible), visible, threshold);
}

std::string Catalog::uncompressed_attachment(std::uint64_t threshold_bytes) const {
  return fmt::format(fmt::runtime(texts(language_).uncompressed), threshold_bytes);
}

std::string Catalog::public_mass_mail(std::uint32_t limit) const {
  return fmt::format(fmt::runtime(texts(language_).public_mass_mail), limit);
}

std::string Catalog::protected_list() const {
  return texts(language_).protected_list;
}

std::string Catalog::from_mismatch() const {
  return texts(language_).from_mismatch;
}

std::string Catalog::notice_subject() const {
  return texts(language_).notice_subject;
}

std::string Catalog::bcc_notice(std::size_t visible, std::uint32_t threshold) const {
  return fmt::format(fmt::runtime(texts(language_).bcc_notice), visible, threshold);
}

std::string Catalog::attachment_notice(std::string_view filename, std::uint64_t size,
                                       std::uint64_t threshold_bytes) const {
  // The name is the sender's own, but only printable ASCII goes into this plain-text body.
  std::string name;
  for (char c : filename.substr(0, 100)) {
    name += (c >= 0x20 && c < 0x7f && c != '"') ? c : '_';
  }
  return fmt::format(fmt::runtime(texts(language_).attachment_notice), name, size, threshold_bytes);
}

}  // namespace policy_relay::policy
