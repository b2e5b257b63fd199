"""Lua scripts of ``state.redis``: every ETag check runs in the same atomic step as its write.

Layout (shared with Dapr's redis state store): one HASH per key with fields ``data`` (the value
bytes) and ``version`` (an integer, 1 on creation, +1 on every write; the ETag is its decimal
text). The key's TTL is the hash's own Redis TTL.
"""

from __future__ import annotations

__all__ = ["APPLY", "COND_ABSENT", "COND_NONE", "GET", "OP_DELETE", "OP_SET"]

# GET: KEYS[1] = key. Returns nil when the key is missing, else {data, version, pttl}
# (pttl in milliseconds; -1 when the key has no TTL). One round trip for the value and its expiry.
GET = """
local v = redis.call('HMGET', KEYS[1], 'data', 'version')
if not v[1] then return false end
return {v[1], v[2], redis.call('PTTL', KEYS[1])}
"""

OP_SET = b"s"
OP_DELETE = b"d"
COND_NONE = b""  # unconditional write
COND_ABSENT = b"-"  # first-write: the key must not exist

# APPLY: operation i (1-based) is KEYS[i] with ARGV[4i-3 .. 4i] = kind, condition, value, ttl.
#   kind: "s" (set) or "d" (delete)
#   condition: "" none; "-" the key must not exist; otherwise the version the key must have
#   value: the bytes to store (set only); ttl: seconds, "0" = no TTL (an existing one is removed)
# Phase 1 checks every condition against the state the earlier operations of this call leave
# behind (so the same key may appear several times, in order); phase 2 writes only if all hold.
# Returns 0 when everything was applied, else the index of the first operation whose condition
# failed (and nothing was written).
APPLY = """
local n = #KEYS
local state = {}
for i = 1, n do
  local key = KEYS[i]
  local cond = ARGV[4 * i - 2]
  local cur = state[key]
  if cur == nil then
    cur = redis.call('HGET', key, 'version')
    if not cur and redis.call('EXISTS', key) == 1 then cur = '' end
  end
  if cond ~= '' then
    if cond == '-' then
      if cur then return i end
    elseif cur ~= cond then
      return i
    end
  end
  if ARGV[4 * i - 3] == 's' then
    state[key] = tostring((tonumber(cur) or 0) + 1)
  else
    state[key] = false
  end
end
for i = 1, n do
  local key = KEYS[i]
  if ARGV[4 * i - 3] == 's' then
    redis.call('HSET', key, 'data', ARGV[4 * i - 1])
    redis.call('HINCRBY', key, 'version', 1)
    local ttl = tonumber(ARGV[4 * i])
    if ttl > 0 then
      redis.call('EXPIRE', key, ttl)
    else
      redis.call('PERSIST', key)
    end
  else
    redis.call('DEL', key)
  end
end
return 0
"""
