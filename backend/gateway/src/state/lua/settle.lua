-- Settlement of one finished call; the same algorithm as `Ledger::settle` in ledger.rs.
-- KEYS: window base keys, then concurrency keys, then per budget 3 keys (hash, lease zset, amounts), then the
-- call's admission marker. The settlement applies only if it takes the marker: a retry after a reply was lost,
-- or the release of an admission that never applied, changes nothing.
-- ARGV: call id, #windows, #concurrency, #budgets, then per window: window start, delta; then per budget:
-- actual, ttl ms, #thresholds, thresholds...
-- Returns a flat list of strings: budget index, threshold, spend after this call; one triple per threshold
-- crossed for the first time in its period (HSETNX makes "first" hold across replicas).
if redis.call('DEL', KEYS[#KEYS]) == 0 then return {} end
local call = ARGV[1]
local nw, nc, nb = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local k, o = 1, 4
for _ = 1, nw do
  local key = KEYS[k] .. ':' .. ARGV[o + 1]
  k = k + 1
  if redis.call('EXISTS', key) == 1 then
    if redis.call('INCRBY', key, ARGV[o + 2]) < 0 then redis.call('SET', key, 0, 'KEEPTTL') end
  end
  o = o + 2
end
for _ = 1, nc do
  redis.call('ZREM', KEYS[k], call)
  k = k + 1
end
local crossed = {}
for i = 1, nb do
  local h, res, amt = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  k = k + 3
  local actual, ttl, nt = ARGV[o + 1], tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3])
  o = o + 3
  -- A period nobody seeded (the counters were lost) is left alone: the next admission seeds it from
  -- storage, which by then includes this call.
  if redis.call('HEXISTS', h, 'seeded') == 1 then
    local a = redis.call('HGET', amt, call)
    if a then
      if a ~= '0' then redis.call('HINCRBY', h, 'reserved', '-' .. a) end
      redis.call('HDEL', amt, call)
      redis.call('ZREM', res, call)
    end
    redis.call('HINCRBY', h, 'spent', actual)
    if ttl > 0 then
      redis.call('PEXPIRE', h, ttl)
      redis.call('PEXPIRE', res, ttl)
      redis.call('PEXPIRE', amt, ttl)
    end
    local spent_text = redis.call('HGET', h, 'spent')
    local spent = tonumber(spent_text)
    for j = 1, nt do
      local threshold = ARGV[o + j]
      if spent >= tonumber(threshold) and redis.call('HSETNX', h, 'fired:' .. threshold, 1) == 1 then
        crossed[#crossed + 1] = tostring(i - 1)
        crossed[#crossed + 1] = threshold
        crossed[#crossed + 1] = spent_text
      end
    end
  end
  o = o + nt
end
return crossed
