#pragma once

#include <string>
#include <string_view>

#include "policy_relay/policy/accounts.hpp"

// senders.directory: the account directory file (POLICY I.2-I.4, III.1, IV.3). TOML, one
// [[account]] table per address:
//
//   [[account]]
//   address = "juan.perez@edomex.gob.mx"
//   kind = "personal"                  # personal | generic | program
//   owner = "Juan Perez Lopez"         # the responsible public servant (I.4) ...
//   position = "Jefe de departamento"  # ... their position ...
//   unit = "Direccion de Sistemas"     # ... and unit
//   agency = "DGSEI"                   # initials; generic names are gem + these
//   status = "active"                  # active | leave | disabled
//   until = 2027-01-31                 # leave: return date (required)
//   since = 2026-11-02                 # disabled: since when (required) ...
//   reason = "baja por separacion"     # ... and why (required)
//
// Errors (syntax, unknown keys, bad values, missing required keys) throw config::ConfigError
// "FILE:LINE:COL: key 'account[N].key': what". Breaches of the naming rules are not errors
// here: `policy-relayctl accounts check` reports them.
namespace policy_relay::config {

policy::AccountDirectory load_account_directory(const std::string& path);
policy::AccountDirectory parse_account_directory(std::string_view text, const std::string& source);

}  // namespace policy_relay::config
