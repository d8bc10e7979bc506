-- ARGV: rpm, tpm, window ms, requests left, their reset ms, tokens left, their reset ms, id
-- (-1: not reported). When the provider says less is left than the log allows, hold the
-- difference until the provider's reset.
local rpm, tpm, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local left_r, reset_r = tonumber(ARGV[4]), tonumber(ARGV[5])
local left_t, reset_t = tonumber(ARGV[6]), tonumber(ARGV[7])
local id = ARGV[8]
local function until_(reset)
  if reset < 0 then return now + window end
  return now + math.min(reset, window)
end
if rpm > 0 and left_r >= 0 then
  local ours = math.max(rpm - used_r, 0)
  if ours > left_r then add(until_(reset_r), id .. 'r', ours - left_r, 0, window) end
end
if tpm > 0 and left_t >= 0 then
  local ours = math.max(tpm - used_t, 0)
  if ours > left_t then add(until_(reset_t), id .. 't', 0, ours - left_t, window) end
end
return 1
