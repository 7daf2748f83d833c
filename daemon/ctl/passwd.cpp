// `policy-relayctl passwd USER` (POLICY VII.2, VII.4): creates or changes USER's line in
// auth.users_file. The password comes from the terminal (asked twice, not echoed) or, when
// stdin is not a terminal, from the first line of stdin; never from the command line, where
// `ps` and shell histories would show it. The file is replaced atomically (write, fsync,
// rename) and keeps its mode (0640 for a new file); a running daemon reads it at the next AUTH.
#include "passwd.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "policy_relay/auth/password_hash.hpp"
#include "policy_relay/auth/users_file.hpp"
#include "policy_relay/config/loader.hpp"
#include "policy_relay/util/file_descriptor.hpp"
#include "policy_relay/util/posix_io.hpp"

namespace policy_relay::ctl {
namespace {

constexpr int kOk = 0;
constexpr int kFailed = 1;
constexpr int kUsage = 2;
constexpr std::size_t kMinPassword = 8;
constexpr std::size_t kMaxPassword = 255;  // RFC 4616 2

void wipe(std::string& secret) {
  if (!secret.empty()) {
    OPENSSL_cleanse(secret.data(), secret.size());
  }
  secret.clear();
}

// One line from `fd` without its line end; false at end of input before any octet.
bool read_line(int fd, std::string& line) {
  line.clear();
  char c = 0;
  bool any = false;
  for (;;) {
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return any;
    }
    any = true;
    if (c == '\n') {
      break;
    }
    if (line.size() <= kMaxPassword) {
      line += c;
    }
  }
  if (!line.empty() && line.back() == '\r') {
    line.pop_back();
  }
  return true;
}

bool prompt_hidden(int tty, const char* prompt, std::string& out) {
  (void)!::write(tty, prompt, std::strlen(prompt));
  termios saved{};
  const bool is_terminal = ::tcgetattr(tty, &saved) == 0;
  if (is_terminal) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(tty, TCSAFLUSH, &quiet);
  }
  const bool ok = read_line(tty, out);
  if (is_terminal) {
    ::tcsetattr(tty, TCSAFLUSH, &saved);
    (void)!::write(tty, "\n", 1);
  }
  return ok;
}

bool read_password(std::string& password) {
  if (!::isatty(STDIN_FILENO)) {
    return read_line(STDIN_FILENO, password);
  }
  std::string again;
  const bool ok = prompt_hidden(STDIN_FILENO, "New password: ", password) &&
                  prompt_hidden(STDIN_FILENO, "Repeat it: ", again);
  const bool same = ok && password == again;
  wipe(again);
  if (ok && !same) {
    std::fputs("policy-relayctl: the passwords differ\n", stderr);
  }
  return same;
}

bool read_file(const std::string& path, std::string& text, mode_t& mode) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    if (errno != ENOENT) {
      return false;
    }
    text.clear();
    mode = 0640;
    return true;
  }
  mode = info.st_mode & 07777;
  std::ifstream file(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << file.rdbuf();
  text = buffer.str();
  return static_cast<bool>(file) || file.eof();
}

bool replace_file(const std::string& path, const std::string& text, mode_t mode) {
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  util::FileDescriptor fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (fd.get() < 0) {
    return false;
  }
  ::fchmod(fd.get(), mode);  // the umask must not widen or narrow it
  if (util::write_all(fd.get(), text) || ::fsync(fd.get()) != 0 ||
      ::rename(temporary.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temporary.c_str());
    errno = saved;
    return false;
  }
  const std::string directory =
      path.find('/') == std::string::npos ? std::string(".") : path.substr(0, path.rfind('/') + 1);
  util::FileDescriptor dir(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() >= 0) {
    ::fsync(dir.get());
  }
  return true;
}

}  // namespace

int passwd(int argc, char** argv, const char* default_config) {
  std::string file;
  std::string config_path = default_config;
  std::optional<std::vector<std::string>> aliases;
  std::string user;
  for (int i = 2; i < argc; ++i) {
    const std::string_view argument = argv[i];
    if ((argument == "--file" || argument == "--config" || argument == "--aliases") &&
        i + 1 < argc) {
      const std::string value = argv[++i];
      if (argument == "--file") {
        file = value;
      } else if (argument == "--config") {
        config_path = value;
      } else {
        aliases.emplace();
        std::stringstream list(value);
        for (std::string alias; std::getline(list, alias, ',');) {
          if (!alias.empty()) {
            aliases->push_back(alias);
          }
        }
      }
    } else if (!argument.starts_with("-") && user.empty()) {
      user = std::string(argument);
    } else {
      std::fputs(
          "usage: policy-relayctl passwd [--file USERS | --config FILE] [--aliases A,B] USER\n",
          stderr);
      return kUsage;
    }
  }
  if (user.empty()) {
    std::fputs("policy-relayctl: passwd needs a USER\n", stderr);
    return kUsage;
  }
  if (file.empty()) {
    try {
      file = config::load_file(config_path).auth.users_file;
    } catch (const std::exception& error) {
      std::fprintf(stderr, "%s\n", error.what());
      return kFailed;
    }
    if (file.empty()) {
      std::fprintf(stderr, "policy-relayctl: %s sets no auth.users_file; use --file\n",
                   config_path.c_str());
      return kFailed;
    }
  }

  std::string text;
  mode_t mode = 0640;
  if (!read_file(file, text, mode)) {
    std::fprintf(stderr, "policy-relayctl: %s: %s\n", file.c_str(), std::strerror(errno));
    return kFailed;
  }
  std::string error;
  if (!text.empty() && !auth::UsersFile::parse(text, error)) {
    std::fprintf(stderr, "policy-relayctl: %s: %s; fix it first\n", file.c_str(), error.c_str());
    return kFailed;
  }
  // The new line must parse too: a bad user name or alias is refused before anything changes.
  std::string password;
  if (!read_password(password)) {
    std::fputs("policy-relayctl: no password read\n", stderr);
    return kFailed;
  }
  if (password.size() < kMinPassword || password.size() > kMaxPassword) {
    wipe(password);
    std::fprintf(stderr, "policy-relayctl: the password must have %zu to %zu characters\n",
                 kMinPassword, kMaxPassword);
    return kFailed;
  }
  std::string hash;
  try {
    hash = auth::hash_password(password);
  } catch (const std::exception& failure) {
    wipe(password);
    std::fprintf(stderr, "policy-relayctl: %s\n", failure.what());
    return kFailed;
  }
  wipe(password);
  const std::string updated = auth::with_user(text, user, hash, aliases);
  if (!auth::UsersFile::parse(updated, error)) {
    std::fprintf(stderr, "policy-relayctl: not changed: %s\n", error.c_str());
    return kFailed;
  }
  if (!replace_file(file, updated, mode)) {
    std::fprintf(stderr, "policy-relayctl: cannot write %s: %s\n", file.c_str(),
                 std::strerror(errno));
    return kFailed;
  }
  std::printf("%s: password of %s set\n", file.c_str(), auth::lower_ascii(user).c_str());
  return kOk;
}

}  // namespace policy_relay::ctl
