-- Admission of one call against every limit that covers it, all-or-nothing. The same algorithm as
-- `Ledger::admit` in ledger.rs (keep the two in step; the test suite runs both).
-- KEYS: per check, in order: window -> 1 (base key), concurrency -> 1, budget -> 3 (hash, lease zset, amounts);
-- then the call's admission marker, set for the lease when the call is admitted (its settlement takes it).
-- ARGV: call id, lease ms, number of checks, then per check: kind (w|c|b), limit, amount, window ms or
-- budget ttl ms, hard (1|0).
-- Returns {1, used, reset_ms, window_start, ...per check} when admitted, {0, index, used, reset_ms,
-- window_start} when refused, {2, index...} when budgets must be seeded first. Indexes are 0-based.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local call = ARGV[1]
local lease = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local plan = {}
local readings = {}
local unseeded = {}
local k = 1
for i = 1, n do
  local o = 3 + (i - 1) * 5
  local kind, limit, amount, param, hard =
    ARGV[o + 1], tonumber(ARGV[o + 2]), ARGV[o + 3], tonumber(ARGV[o + 4]), ARGV[o + 5]
  if kind == 'w' then
    local start = now - (now % param)
    local key = KEYS[k] .. ':' .. start
    k = k + 1
    local used = tonumber(redis.call('GET', key) or '0')
    local reset = start + param - now
    if used + tonumber(amount) > limit then return {0, i - 1, used, reset, start} end
    plan[i] = {'w', key, amount, reset + 1000}
    readings[i] = {used, reset, start}
  elseif kind == 'c' then
    local key = KEYS[k]
    k = k + 1
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    local used = redis.call('ZCARD', key)
    if used + 1 > limit then return {0, i - 1, used, 0, 0} end
    plan[i] = {'c', key}
    readings[i] = {used, 0, 0}
  else
    local h, res, amt = KEYS[k], KEYS[k + 1], KEYS[k + 2]
    k = k + 3
    if redis.call('HEXISTS', h, 'seeded') == 0 then
      unseeded[#unseeded + 1] = i - 1
      plan[i] = {'skip'}
      readings[i] = {0, 0, 0}
    else
      -- Reservations whose holder never settled (it died) are released here.
      local expired = redis.call('ZRANGEBYSCORE', res, '-inf', now)
      for _, id in ipairs(expired) do
        local a = redis.call('HGET', amt, id)
        if a and a ~= '0' then redis.call('HINCRBY', h, 'reserved', '-' .. a) end
        redis.call('HDEL', amt, id)
      end
      if #expired > 0 then redis.call('ZREMRANGEBYSCORE', res, '-inf', now) end
      local used = tonumber(redis.call('HGET', h, 'spent') or '0')
        + tonumber(redis.call('HGET', h, 'reserved') or '0')
      if hard == '1' and used + tonumber(amount) > limit then return {0, i - 1, used, 0, 0} end
      plan[i] = {'b', h, amount, param, res, amt}
      readings[i] = {used, 0, 0}
    end
  end
end
if #unseeded > 0 then
  local out = {2}
  for _, index in ipairs(unseeded) do out[#out + 1] = index end
  return out
end
redis.call('SET', KEYS[#KEYS], '1', 'PX', lease)
local out = {1}
for i = 1, n do
  local p = plan[i]
  local r = readings[i]
  if p[1] == 'w' then
    r[1] = redis.call('INCRBY', p[2], p[3])
    redis.call('PEXPIRE', p[2], p[4])
  elseif p[1] == 'c' then
    redis.call('ZADD', p[2], now + lease, call)
    -- Every lease has the same length, so the set outlives all of them by living past the newest.
    redis.call('PEXPIRE', p[2], lease + 1000)
    r[1] = redis.call('ZCARD', p[2])
  else
    local reserved = redis.call('HINCRBY', p[2], 'reserved', p[3])
    redis.call('ZADD', p[5], now + lease, call)
    redis.call('HSET', p[6], call, p[3])
    if p[4] > 0 then
      redis.call('PEXPIRE', p[2], p[4])
      redis.call('PEXPIRE', p[5], p[4])
      redis.call('PEXPIRE', p[6], p[4])
    end
    r[1] = tonumber(redis.call('HGET', p[2], 'spent') or '0') + reserved
  end
  out[#out + 1] = r[1]
  out[#out + 1] = r[2]
  out[#out + 1] = r[3]
end
return out
