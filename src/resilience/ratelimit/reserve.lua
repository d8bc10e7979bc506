-- ARGV: rpm (0: none), tpm (0: none), window ms, tokens, id.
-- Returns {1, expiry, tokens reserved} or {0, ms to wait, 0}.
local rpm, tpm, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens, id = tonumber(ARGV[4]), ARGV[5]
-- A request larger than the whole budget waits for an empty window, then takes it all.
if tpm > 0 and tokens > tpm then tokens = tpm end

-- How long until `excess` units of one dimension (1: requests, 2: tokens) leave the window;
-- read in pages, oldest first, since the excess is usually covered by the first few entries.
local function freed_in(excess, dim)
  local freed, start, page = 0, 0, 64
  while true do
    local entries = redis.call('ZRANGE', KEYS[1], start, start + page - 1, 'WITHSCORES')
    if #entries == 0 then return window end
    for i = 1, #entries, 2 do
      local r, t = parts(entries[i])
      freed = freed + (dim == 1 and r or t)
      if freed >= excess then return math.max(tonumber(entries[i + 1]) - now, 1) end
    end
    start = start + page
  end
end

local wait = 0
if rpm > 0 and used_r + 1 > rpm then wait = math.max(wait, freed_in(used_r + 1 - rpm, 1)) end
if tpm > 0 and used_t + tokens > tpm then wait = math.max(wait, freed_in(used_t + tokens - tpm, 2)) end
if wait > 0 then return {0, wait, 0} end
add(now + window, id, 1, tokens, window)
return {1, now + window, tokens}
