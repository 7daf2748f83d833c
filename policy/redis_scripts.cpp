#include "redis_scripts.hpp"

#include <string>

namespace policy_relay::policy::redis_scripts {

namespace {

// Shared by every script: arguments, pruning of ended leases and expired buckets, and the
// keys' expiry. `prune` costs O(buckets passed since the last call), bounded by the window.
constexpr std::string_view kPrelude = R"lua(
local h, z = KEYS[1], KEYS[2]
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
local res = tonumber(ARGV[2])
local win = tonumber(ARGV[3])
local now_s = math.floor(now / 1000)
local first_live = math.floor((now_s - win) / res)

local function num(v)
  return tonumber(v) or 0
end

local function prune()
  local ended = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  if #ended > 0 then
    local freed = 0
    for _, id in ipairs(ended) do
      freed = freed + num(redis.call('HGET', h, 'h:' .. id))
      redis.call('HDEL', h, 'h:' .. id)
    end
    redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
    redis.call('HINCRBY', h, 'r', -freed)
  end
  local low = tonumber(redis.call('HGET', h, 'l'))
  if low == nil or low >= first_live then
    return
  end
  local last = first_live - 1
  local gone = 0
  if last - low > 2 * (win / res) + 2 then
    for _, f in ipairs(redis.call('HKEYS', h)) do
      if string.sub(f, 1, 2) == 'b:' and tonumber(string.sub(f, 3)) <= last then
        gone = gone + num(redis.call('HGET', h, f))
        redis.call('HDEL', h, f)
      end
    end
  else
    for k = low, last do
      local c = redis.call('HGET', h, 'b:' .. k)
      if c then
        gone = gone + tonumber(c)
        redis.call('HDEL', h, 'b:' .. k)
      end
    end
  end
  if gone > 0 then
    redis.call('HINCRBY', h, 's', -gone)
  end
  redis.call('HSET', h, 'l', first_live)
end

local function keep()
  local ttl = 0
  local n = tonumber(redis.call('HGET', h, 'n'))
  if n and num(redis.call('HGET', h, 's')) > 0 then
    ttl = ((n + 1) * res + win) * 1000 - now
  end
  local last = redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')
  if #last > 0 then
    ttl = math.max(ttl, tonumber(last[2]) - now)
  end
  if ttl <= 0 then
    redis.call('DEL', h, z)
    return
  end
  redis.call('PEXPIRE', h, math.ceil(ttl))
  if #last > 0 then
    redis.call('PEXPIRE', z, math.ceil(ttl))
  end
end

-- Adds `amount` units to the newest bucket at `now` (a time older than it counts there).
local function add_units(amount)
  local k = math.floor(now_s / res)
  local n = tonumber(redis.call('HGET', h, 'n'))
  if n and n > k then
    k = n
  end
  redis.call('HINCRBY', h, 'b:' .. k, amount)
  redis.call('HINCRBY', h, 's', amount)
  redis.call('HSET', h, 'n', k)
  if not redis.call('HGET', h, 'l') then
    redis.call('HSET', h, 'l', first_live)
  end
end

-- The refusal of `amount` units when `used` (of which `s` committed) leaves no room:
-- {0, used, the first second at which they fit (-1 = never)}.
local function refusal(used, s, amount, limit)
  if amount > limit then
    return {0, used, -1}
  end
  local need = used + amount - limit
  local n = tonumber(redis.call('HGET', h, 'n'))
  if n == nil or s == 0 then
    return {0, used, now_s + res}
  end
  if need > s then
    return {0, used, (n + 1) * res + win}
  end
  local freed = 0
  for k = first_live, n do
    freed = freed + num(redis.call('HGET', h, 'b:' .. k))
    if freed >= need then
      return {0, used, (k + 1) * res + win}
    end
  end
  return {0, used, (n + 1) * res + win}
end

-- used (committed + reserved), and nil when `amount` more units fit under `limit`, else the
-- refusal to return.
local function check(amount, limit)
  local s = num(redis.call('HGET', h, 's'))
  local used = s + num(redis.call('HGET', h, 'r'))
  if amount <= limit and used + amount <= limit then
    return used, nil
  end
  return used, refusal(used, s, amount, limit)
end

local function drop_hold(id)
  local held = redis.call('HGET', h, 'h:' .. id)
  if not held then
    return 0
  end
  redis.call('HDEL', h, 'h:' .. id)
  redis.call('ZREM', z, id)
  redis.call('HINCRBY', h, 'r', -tonumber(held))
  return 1
end
)lua";

// Defined before the views below (one translation unit: initialised in order).
const std::string kReserve = std::string(kPrelude) + R"lua(
prune()
local amount = tonumber(ARGV[4])
local id = ARGV[6]
local used, refused = check(amount, tonumber(ARGV[5]))
if refused then
  return refused
end
if amount > 0 then
  redis.call('HINCRBY', h, 'r', amount)
  redis.call('HSET', h, 'h:' .. id, amount)
  redis.call('ZADD', z, now + tonumber(ARGV[7]), id)
  if not redis.call('HGET', h, 'l') then
    redis.call('HSET', h, 'l', first_live)
  end
  keep()
end
return {1, used}
)lua";

const std::string kCommit = std::string(kPrelude) + R"lua(
prune()
drop_hold(ARGV[5])
local amount = tonumber(ARGV[4])
if amount > 0 then
  add_units(amount)
end
keep()
return 1
)lua";

// reserve and commit in one: the units count at once, no hold is taken.
const std::string kCount = std::string(kPrelude) + R"lua(
prune()
local amount = tonumber(ARGV[4])
local used, refused = check(amount, tonumber(ARGV[5]))
if refused then
  return refused
end
if amount > 0 then
  add_units(amount)
  keep()
end
return {1, used}
)lua";

// No keep(): removing a hold never needs the keys to live longer.
const std::string kRelease = std::string(kPrelude) + R"lua(
return drop_hold(ARGV[4])
)lua";

const std::string kUsage = std::string(kPrelude) + R"lua(
prune()
local used = num(redis.call('HGET', h, 's')) + num(redis.call('HGET', h, 'r'))
local n = tonumber(redis.call('HGET', h, 'n'))
if n then
  for k = first_live, n do
    if redis.call('HGET', h, 'b:' .. k) then
      return {used, (k + 1) * res + win}
    end
  end
end
return {used, 0}
)lua";

}  // namespace

const std::string_view reserve = kReserve;
const std::string_view commit = kCommit;
const std::string_view release = kRelease;
const std::string_view usage = kUsage;
const std::string_view count = kCount;

}  // namespace policy_relay::policy::redis_scripts
