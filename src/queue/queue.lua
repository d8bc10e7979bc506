-- The Redis store of the durable queue (src/queue/redis.rs): every step of an item's life is
-- one call of this script, atomic on the server. KEYS[1] is the queue's prefix; every key it
-- derives shares its {hash tag}, so a cluster keeps them on one node. ARGV[1] names the step.
--
-- <p>:item:<id>    hash: the item's fields      <p>:errors:<id>  list: its errors (JSON each)
-- <p>:ready        zset: QUEUED ids by priority, then submission order
-- <p>:expiry       zset: QUEUED ids by expiry   <p>:leases       zset: PROCESSING ids by lease end
-- <p>:waiting      zset: QUEUED ids by creation (stats' oldest waiting item without a scan)
-- <p>:finished     zset: COMPLETED/FAILED ids by finish time (the processing rate)
-- <p>:all          zset: every id by submission order     <p>:idem  hash: idempotency key -> id
-- <p>:counts       hash: items per state      <p>:seq, <p>:refusing  strings
-- <p>:unreported   set: EXPIRED ids whose expiry no process has reported yet
-- <p>:wake         pub/sub channel: a message each time a step queued items
-- <p>:done         pub/sub channel: a message after each step that finished items (their ids,
--                  comma-separated), for readers waiting in other processes
--                  A message's text starts with its sender's name and a space: the store that
--                  sent it ignores it (it told its own process already).
-- <p>:deliveries   zset: ids whose webhook is PENDING, by when it may be taken (its retry time
--                  or its sender's lease end)      <p>:wh_gave_up  set: ids whose webhook was
--                  given up. A webhook's fields (wh_*) live in the item's hash.
local p = KEYS[1]
local op = ARGV[1]

local FIELDS = {'id', 'state', 'target', 'request', 'metadata', 'priority', 'idem', 'attempts',
  'max_attempts', 'created_ms', 'updated_ms', 'expires_ms', 'finished_ms', 'lease_until_ms',
  'result', 'callback_url', 'wh_id', 'wh_state', 'wh_attempts', 'wh_created', 'wh_due',
  'wh_settled', 'wh_error'}

local function key(s) return p .. ':' .. s end
-- The ids this step finished (COMPLETED, FAILED or EXPIRED), told on <p>:done at its end.
local done = {}
local function item(id) return p .. ':item:' .. id end
local function errors(id) return p .. ':errors:' .. id end

local function count(state, n) redis.call('HINCRBY', key('counts'), state, n) end

-- Higher priorities first, then submission order: priority is clamped to +-2^20 so the score
-- stays an exact integer in a double.
local function score_of(prio, seq)
  prio = math.max(-1048576, math.min(1048576, tonumber(prio)))
  return -prio * 4294967296 + tonumber(seq)
end

local function score(id)
  local v = redis.call('HMGET', item(id), 'priority', 'seq')
  return score_of(v[1], v[2])
end

local function to_state(id, from, to, now)
  redis.call('HSET', item(id), 'state', to, 'updated_ms', now)
  count(from, -1)
  count(to, 1)
end

local function unlease(id)
  redis.call('HDEL', item(id), 'lease_until_ms', 'lease_token')
  redis.call('ZREM', key('leases'), id)
end

local function requeue(id, from, now)
  to_state(id, from, 'QUEUED', now)
  unlease(id)
  redis.call('ZADD', key('ready'), score(id), id)
  redis.call('ZADD', key('waiting'), redis.call('HGET', item(id), 'created_ms'), id)
  redis.call('ZADD', key('expiry'), redis.call('HGET', item(id), 'expires_ms'), id)
end

-- `...`: more fields to set with the state (a result).
local function finish(id, from, to, now, ...)
  done[#done + 1] = id
  redis.call('HSET', item(id), 'state', to, 'updated_ms', now, 'finished_ms', now, ...)
  count(from, -1)
  count(to, 1)
  unlease(id)
  -- A PROCESSING item is in none of these (taking it took it out of them).
  if from ~= 'PROCESSING' then
    redis.call('ZREM', key('ready'), id)
    redis.call('ZREM', key('waiting'), id)
    redis.call('ZREM', key('expiry'), id)
  end
  if to ~= 'EXPIRED' then
    redis.call('ZADD', key('finished'), now, id)
  else
    redis.call('SADD', key('unreported'), id)
  end
  -- The webhook is recorded in the step that finishes the item: a process that stops right
  -- after leaves it for another to deliver.
  if redis.call('HEXISTS', item(id), 'callback_url') == 1 then
    redis.call('HSET', item(id), 'wh_id', 'whd_' .. id .. '_' .. now, 'wh_state', 'PENDING',
      'wh_attempts', 0, 'wh_created', now, 'wh_due', now)
    redis.call('HDEL', item(id), 'wh_token', 'wh_settled', 'wh_error')
    redis.call('ZADD', key('deliveries'), now, id)
    redis.call('SREM', key('wh_gave_up'), id)
  end
end

local function forget_delivery(id)
  redis.call('HDEL', item(id), 'wh_id', 'wh_state', 'wh_attempts', 'wh_created', 'wh_due',
    'wh_settled', 'wh_error', 'wh_token')
  redis.call('ZREM', key('deliveries'), id)
  redis.call('SREM', key('wh_gave_up'), id)
end

local function lost(attempts, now)
  return string.format('{"kind":"CancelledError","message":"attempt %d: the worker processing it ' ..
    'stopped before finishing (its lease ran out)","at_ms":%d}', attempts, now)
end

-- Items past their TTL that no worker holds become EXPIRED; a lease that ran out puts its item
-- back (or fails it, on its last attempt), keeping an error for the attempt.
local function sweep(now)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', key('expiry'), '-inf', now)) do
    if redis.call('HGET', item(id), 'state') == 'QUEUED' then
      finish(id, 'QUEUED', 'EXPIRED', now)
    else
      redis.call('ZREM', key('expiry'), id)
    end
  end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', key('leases'), '-inf', now)) do
    local h = item(id)
    local attempts = tonumber(redis.call('HGET', h, 'attempts'))
    redis.call('RPUSH', errors(id), lost(attempts, now))
    if attempts >= tonumber(redis.call('HGET', h, 'max_attempts')) then
      finish(id, 'PROCESSING', 'FAILED', now)
    elseif tonumber(redis.call('HGET', h, 'expires_ms')) <= now then
      finish(id, 'PROCESSING', 'EXPIRED', now)
    else
      requeue(id, 'PROCESSING', now)
    end
  end
end

local function read(id)
  local v = redis.call('HMGET', item(id), unpack(FIELDS))
  if not v[1] then return false end
  v[#FIELDS + 1] = '[' .. table.concat(redis.call('LRANGE', errors(id), 0, -1), ',') .. ']'
  return v
end

local function counted(state)
  return tonumber(redis.call('HGET', key('counts'), state) or '0')
end

local function finished_last_minute(now)
  return redis.call('ZCOUNT', key('finished'), now - 60000, '+inf')
end

local now = tonumber(ARGV[2])
-- The store that runs the step (its name), in every message it publishes.
local sender = ARGV[3]

-- Take up to `want` items (targets named from ARGV[first] on are skipped), each leased under
-- `token` until now + lease_ms.
local function claim(lease_ms, token, want, first)
  sweep(now)
  local blocked = {}
  for i = first, #ARGV do blocked[ARGV[i]] = true end
  -- Blocked targets' items stay at the front of `ready`: the next page starts after them. The
  -- scan reads 64 ids a page (not the whole set: a deep queue would make every claim O(depth))
  -- and stops after 1000 so a long outage of one target costs each claim a bounded amount.
  -- The sets are written once per page for the items it took, the counts once per claim.
  local any_blocked = next(blocked) ~= nil
  local untl = now + lease_ms
  local out, skipped, scanned = {}, 0, 0
  while #out < want and scanned < 1000 do
    local ids = redis.call('ZRANGE', key('ready'), skipped, skipped + 63)
    if #ids == 0 then break end
    local taken, leased = {}, {}
    for _, id in ipairs(ids) do
      scanned = scanned + 1
      if any_blocked and blocked[redis.call('HGET', item(id), 'target')] then
        skipped = skipped + 1
      else
        taken[#taken + 1] = id
        leased[#leased + 1] = untl
        leased[#leased + 1] = id
        redis.call('HINCRBY', item(id), 'attempts', 1)
        redis.call('HSET', item(id), 'state', 'PROCESSING', 'updated_ms', now, 'lease_until_ms', untl,
          'lease_token', token)
        out[#out + 1] = read(id)
        if #out >= want then break end
      end
    end
    if #taken > 0 then
      redis.call('ZREM', key('ready'), unpack(taken))
      redis.call('ZREM', key('waiting'), unpack(taken))
      redis.call('ZREM', key('expiry'), unpack(taken))
      redis.call('ZADD', key('leases'), unpack(leased))
    end
  end
  if #out > 0 then
    count('QUEUED', -#out)
    count('PROCESSING', #out)
  end
  return out
end

-- The first completion wins, also from a worker whose lease ran out while it worked (its item
-- may be back in the queue); a later one finds the item finished. 1 if stored, else 0.
local function complete(id, result)
  local v = redis.call('HMGET', item(id), 'state', 'attempts')
  local state, attempts = v[1], tonumber(v[2] or '0')
  if state == 'PROCESSING' or (state == 'QUEUED' and attempts > 0) then
    finish(id, state, 'COMPLETED', now, 'result', result)
    return 1
  end
  return 0
end

-- The state after a failed attempt, or false if `token` no longer holds the item.
local function fail(id, token, err, retry)
  local h = item(id)
  if redis.call('HGET', h, 'state') ~= 'PROCESSING' or redis.call('HGET', h, 'lease_token') ~= token then
    return false
  end
  redis.call('RPUSH', errors(id), err)
  if retry and tonumber(redis.call('HGET', h, 'attempts')) < tonumber(redis.call('HGET', h, 'max_attempts')) then
    requeue(id, 'PROCESSING', now)
    return 'QUEUED'
  end
  finish(id, 'PROCESSING', 'FAILED', now)
  return 'FAILED'
end

local function release(id, token)
  local h = item(id)
  if redis.call('HGET', h, 'state') ~= 'PROCESSING' or redis.call('HGET', h, 'lease_token') ~= token then
    return 0
  end
  if tonumber(redis.call('HGET', h, 'attempts')) > 0 then redis.call('HINCRBY', h, 'attempts', -1) end
  requeue(id, 'PROCESSING', now)
  return 1
end

-- One submission (its 9 arguments from ARGV[at] on: id, target, request, metadata, priority,
-- idempotency key, max_attempts, ttl_ms, callback_url): {'new', id}, {'existing', id} or
-- {'full', depth, finished in the last minute}.
local function submit(at, high, low)
  local id, idem = ARGV[at], ARGV[at + 5]
  if idem ~= '' then
    local seen = redis.call('HGET', key('idem'), idem)
    if seen then return {'existing', seen} end
  end
  local counts = redis.call('HMGET', key('counts'), 'QUEUED', 'PROCESSING')
  local depth = tonumber(counts[1] or '0') + tonumber(counts[2] or '0')
  -- Hysteresis: refusing starts at the high watermark and lasts until below the low one.
  local was = redis.call('GET', key('refusing')) == '1'
  local full
  if was then full = depth >= low else full = depth >= high end
  if full ~= was then redis.call('SET', key('refusing'), full and '1' or '0') end
  if full then return {'full', tostring(depth), tostring(finished_last_minute(now))} end
  local seq = redis.call('INCR', key('seq'))
  local ttl = ARGV[at + 7]
  local expires = now + tonumber(ttl)
  local fields = {'id', id, 'state', 'QUEUED', 'target', ARGV[at + 1], 'request', ARGV[at + 2],
    'priority', ARGV[at + 4], 'attempts', 0, 'max_attempts', ARGV[at + 6], 'ttl_ms', ttl,
    'created_ms', now, 'updated_ms', now, 'expires_ms', expires, 'seq', seq}
  local function field(name, value)
    if value ~= '' then fields[#fields + 1] = name; fields[#fields + 1] = value end
  end
  field('metadata', ARGV[at + 3])
  field('callback_url', ARGV[at + 8])
  field('idem', idem)
  redis.call('HSET', item(id), unpack(fields))
  if idem ~= '' then redis.call('HSET', key('idem'), idem, id) end
  count('QUEUED', 1)
  redis.call('ZADD', key('ready'), score_of(ARGV[at + 4], seq), id)
  redis.call('ZADD', key('waiting'), now, id)
  redis.call('ZADD', key('expiry'), expires, id)
  redis.call('ZADD', key('all'), seq, id)
  return {'new', id}
end

local function run()
if op == 'submit' then
  -- A group of submissions (ARGV[6] on, 9 arguments each), in order, in this one step; the
  -- watermarks in ARGV[4] and ARGV[5]: one outcome per submission.
  sweep(now)
  local high, low, out = tonumber(ARGV[4]), tonumber(ARGV[5]), {}
  local queued = false
  for at = 6, #ARGV, 9 do
    out[#out + 1] = submit(at, high, low)
    queued = queued or out[#out][1] == 'new'
  end
  -- Idle workers of every process claim now (`wake_ups` in redis.rs), not at their next poll.
  if queued then redis.call('PUBLISH', p .. ':wake', sender .. ' ') end
  return out
elseif op == 'heartbeat' then
  local id, token, untl = ARGV[4], ARGV[5], ARGV[6]
  local h = item(id)
  if redis.call('HGET', h, 'state') ~= 'PROCESSING' or redis.call('HGET', h, 'lease_token') ~= token then
    return 0
  end
  redis.call('HSET', h, 'lease_until_ms', untl)
  redis.call('ZADD', key('leases'), untl, id)
  return 1
elseif op == 'settle_claim' then
  -- What ended since the worker's last step (ARGV[7] items of 5 arguments each: kind c|f|r,
  -- id, token, result or error, retry), then up to ARGV[6] new items (blocked targets after
  -- the ended ones): the state after each ended item ('' when ignored), and the items taken.
  local n, after = tonumber(ARGV[7]), {}
  for i = 0, n - 1 do
    local at = 8 + i * 5
    local kind, id, token = ARGV[at], ARGV[at + 1], ARGV[at + 2]
    local state = ''
    if kind == 'c' then
      if complete(id, ARGV[at + 3]) == 1 then state = 'COMPLETED' end
    elseif kind == 'f' then
      state = fail(id, token, ARGV[at + 3], ARGV[at + 4] == '1') or ''
    elseif release(id, token) == 1 then
      state = 'QUEUED'
    end
    after[#after + 1] = state
  end
  local want, taken = tonumber(ARGV[6]), {}
  if want > 0 then taken = claim(tonumber(ARGV[4]), ARGV[5], want, 8 + n * 5) end
  return {after, taken}
elseif op == 'get' then
  sweep(now)
  return read(ARGV[4])
elseif op == 'take_expired' then
  sweep(now)
  local out, limit = {}, tonumber(ARGV[4])
  for _, id in ipairs(redis.call('SMEMBERS', key('unreported'))) do
    if #out >= limit then break end
    redis.call('SREM', key('unreported'), id)
    local v = read(id)
    if v then out[#out + 1] = v end
  end
  return out
elseif op == 'list' then
  sweep(now)
  local state, limit, out = ARGV[4], tonumber(ARGV[5]), {}
  for _, id in ipairs(redis.call('ZRANGE', key('all'), 0, -1)) do
    if #out >= limit then break end
    if state == '' or redis.call('HGET', item(id), 'state') == state then out[#out + 1] = read(id) end
  end
  return out
elseif op == 'stats' then
  sweep(now)
  local first = redis.call('ZRANGE', key('waiting'), 0, 0, 'WITHSCORES')
  local oldest = first[2] or ''
  return {tostring(counted('QUEUED')), tostring(counted('PROCESSING')), tostring(counted('COMPLETED')),
    tostring(counted('FAILED')), tostring(counted('EXPIRED')), oldest,
    tostring(finished_last_minute(now)), redis.call('GET', key('refusing')) or '0',
    tostring(redis.call('ZCARD', key('deliveries'))), tostring(redis.call('SCARD', key('wh_gave_up')))}
elseif op == 'retry' then
  local id = ARGV[4]
  local h = item(id)
  local state = redis.call('HGET', h, 'state')
  if state ~= 'FAILED' and state ~= 'EXPIRED' then return 0 end
  redis.call('HSET', h, 'attempts', 0, 'expires_ms', now + tonumber(redis.call('HGET', h, 'ttl_ms')))
  redis.call('HDEL', h, 'finished_ms')
  redis.call('ZREM', key('finished'), id)
  redis.call('SREM', key('unreported'), id)
  forget_delivery(id)
  requeue(id, state, now)
  redis.call('PUBLISH', p .. ':wake', sender .. ' ')
  return 1
elseif op == 'purge' then
  sweep(now)
  local states, gone = {}, 0
  for i = 4, #ARGV do states[ARGV[i]] = true end
  for _, id in ipairs(redis.call('ZRANGE', key('all'), 0, -1)) do
    local h = item(id)
    local state = redis.call('HGET', h, 'state')
    if states[state] then
      local idem = redis.call('HGET', h, 'idem')
      if idem then redis.call('HDEL', key('idem'), idem) end
      unlease(id)
      for _, z in ipairs({'ready', 'waiting', 'expiry', 'finished', 'all'}) do redis.call('ZREM', key(z), id) end
      redis.call('DEL', h, errors(id))
      redis.call('SREM', key('unreported'), id)
      redis.call('ZREM', key('deliveries'), id)
      redis.call('SREM', key('wh_gave_up'), id)
      count(state, -1)
      gone = gone + 1
    end
  end
  return gone
elseif op == 'claim_deliveries' then
  -- Due webhooks, each counted as an attempt and leased to this caller until its lease ends
  -- (a sender that dies leaves it to be taken again then); and when the next one is due.
  sweep(now)
  local lease_ms, token, want = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
  local out = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', key('deliveries'), '-inf', now, 'LIMIT', 0, want)) do
    local untl = now + lease_ms
    redis.call('HINCRBY', item(id), 'wh_attempts', 1)
    redis.call('HSET', item(id), 'wh_token', token, 'wh_due', untl)
    redis.call('ZADD', key('deliveries'), untl, id)
    local v = read(id)
    if v then out[#out + 1] = v end
  end
  local first = redis.call('ZRANGE', key('deliveries'), 0, 0, 'WITHSCORES')
  return {out, first[2] or ''}
elseif op == 'settle_delivery' then
  local id, token, outcome = ARGV[4], ARGV[5], ARGV[6]
  local h = item(id)
  if redis.call('HGET', h, 'wh_state') ~= 'PENDING' or redis.call('HGET', h, 'wh_token') ~= token then
    return 0
  end
  redis.call('HDEL', h, 'wh_token')
  if ARGV[8] ~= '' then redis.call('HSET', h, 'wh_error', ARGV[8]) end
  if outcome == 'retry' then
    redis.call('HSET', h, 'wh_due', ARGV[7])
    redis.call('ZADD', key('deliveries'), tonumber(ARGV[7]), id)
    return 1
  end
  redis.call('HDEL', h, 'wh_due')
  redis.call('HSET', h, 'wh_state', outcome, 'wh_settled', now)
  redis.call('ZREM', key('deliveries'), id)
  if outcome == 'GAVE_UP' then redis.call('SADD', key('wh_gave_up'), id) end
  return 1
end
return redis.error_reply('unknown queue step ' .. tostring(op))
end

local out = run()
if #done > 0 then redis.call('PUBLISH', p .. ':done', sender .. ' ' .. table.concat(done, ',')) end
return out
