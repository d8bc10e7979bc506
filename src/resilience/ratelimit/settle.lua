-- ARGV: id, tokens reserved, tokens used. Replaces the reservation in place (same expiry).
local old = ARGV[1] .. '|1|' .. ARGV[2]
local expiry = redis.call('ZSCORE', KEYS[1], old)
if not expiry then return 0 end
redis.call('ZREM', KEYS[1], old)
redis.call('ZADD', KEYS[1], expiry, ARGV[1] .. '|1|' .. ARGV[3])
redis.call('HINCRBY', KEYS[2], 't', tonumber(ARGV[3]) - tonumber(ARGV[2]))
return 1
