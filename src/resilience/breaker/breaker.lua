-- The circuit breaker of breaker.rs (`Machine`), run atomically on the server.
-- KEYS[1]: hash open, consecutive, open_until, probe_until, bucket_start, calls, failures,
-- prev_calls, prev_failures. ARGV[1]: "admit", "record" or "read"; times are the server's ms.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local names = {'open', 'consecutive', 'open_until', 'probe_until', 'bucket_start', 'calls',
  'failures', 'prev_calls', 'prev_failures'}
local raw = redis.call('HMGET', KEYS[1], unpack(names))
local s = {}
for i, n in ipairs(names) do s[n] = tonumber(raw[i] or '0') end
local op = ARGV[1]

if op == 'read' then
  return {now, s.open, s.consecutive, s.open_until, s.probe_until, s.bucket_start, s.calls,
    s.failures, s.prev_calls, s.prev_failures}
end

if op == 'admit' then
  -- ARGV[2]: probe lease ms. Returns {0}: allowed, {1}: probe, {2, ms}: rejected (-1: a
  -- probe is running).
  if s.open == 0 then return {0, 0} end
  if now < s.open_until then return {2, s.open_until - now} end
  if now < s.probe_until then return {2, -1} end
  redis.call('HSET', KEYS[1], 'probe_until', now + tonumber(ARGV[2]))
  return {1, 0}
end

-- record. ARGV: outcome (0 success, 1 failure, 2 ignored), probe (0/1), failure_threshold,
-- failure_rate, min_calls, window ms, cooldown ms, key ttl ms. Returns 1 if this opened the
-- breaker, 2 if it closed it, else 0.
local outcome, probe = tonumber(ARGV[2]), tonumber(ARGV[3])
local threshold, rate, min_calls = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local window, cooldown, ttl = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
if outcome == 2 then
  if probe == 1 then redis.call('HSET', KEYS[1], 'probe_until', 0) end
  return 0
end
local failed = outcome == 1
local function trip()
  redis.call('HSET', KEYS[1], 'open', 1, 'open_until', now + cooldown, 'probe_until', 0)
  redis.call('PEXPIRE', KEYS[1], ttl)
end
if s.open == 1 then
  -- Only the probe decides; stragglers from before the opening are ignored.
  if probe == 1 then
    if failed then
      trip()
      return 1
    end
    redis.call('DEL', KEYS[1])
    return 2
  end
  return 0
end
local start = now - (now % window)
if start ~= s.bucket_start then
  if start == s.bucket_start + window then
    s.prev_calls, s.prev_failures = s.calls, s.failures
  else
    s.prev_calls, s.prev_failures = 0, 0
  end
  s.calls, s.failures, s.bucket_start = 0, 0, start
end
s.calls = s.calls + 1
if failed then
  s.failures, s.consecutive = s.failures + 1, s.consecutive + 1
else
  s.consecutive = 0
end
local w = math.min(math.max(1 - (now - s.bucket_start) / window, 0), 1)
local calls, failures = s.calls + s.prev_calls * w, s.failures + s.prev_failures * w
local rate_trips = calls >= math.max(min_calls, 1) and failures / calls >= rate
redis.call('HSET', KEYS[1], 'consecutive', s.consecutive, 'bucket_start', s.bucket_start,
  'calls', s.calls, 'failures', s.failures, 'prev_calls', s.prev_calls,
  'prev_failures', s.prev_failures)
redis.call('PEXPIRE', KEYS[1], ttl)
if failed and (s.consecutive >= threshold or rate_trips) then
  trip()
  return 1
end
return 0
