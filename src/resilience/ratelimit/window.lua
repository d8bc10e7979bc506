-- Shared prelude of the rate-limit scripts: the server clock, and the sliding log cleaned up.
-- KEYS[1]: sorted set, member "id|requests|tokens", score = when it leaves the window (ms).
-- KEYS[2]: hash with the totals still in the window: r (requests), t (tokens).
-- The server's clock is the only clock, so machines with skewed clocks still agree.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

local function parts(member)
  local r, t = string.match(member, '|(%d+)|(%d+)$')
  return tonumber(r), tonumber(t)
end

local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #gone > 0 then
  local fr, ft = 0, 0
  for _, m in ipairs(gone) do
    local r, t = parts(m)
    fr, ft = fr + r, ft + t
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  -- `0 - x`, not `-x`: Lua prints -0 as "-0", which HINCRBY refuses.
  redis.call('HINCRBY', KEYS[2], 'r', 0 - fr)
  redis.call('HINCRBY', KEYS[2], 't', 0 - ft)
end
local used_r = tonumber(redis.call('HGET', KEYS[2], 'r') or '0')
local used_t = tonumber(redis.call('HGET', KEYS[2], 't') or '0')

local function add(expiry, id, r, t, window)
  redis.call('ZADD', KEYS[1], expiry, id .. '|' .. r .. '|' .. t)
  redis.call('HINCRBY', KEYS[2], 'r', r)
  redis.call('HINCRBY', KEYS[2], 't', t)
  redis.call('PEXPIRE', KEYS[1], window + 1000)
  redis.call('PEXPIRE', KEYS[2], window + 1000)
end
