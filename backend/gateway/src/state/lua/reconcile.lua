-- Raises a seeded budget period's spend to what storage has recorded, never lowers it: spend the counters
-- missed (calls served unmetered while Redis was away, a settlement that never arrived) is counted again,
-- while spend settled here but not yet written to storage is kept. Same algorithm as `Ledger::reconcile`.
-- KEYS: the budget hash. ARGV: recorded spend (picos). Returns 1 when it raised the counter.
if redis.call('HEXISTS', KEYS[1], 'seeded') == 1 then
  local spent = redis.call('HGET', KEYS[1], 'spent') or '0'
  if tonumber(spent) < tonumber(ARGV[1]) then
    redis.call('HSET', KEYS[1], 'spent', ARGV[1])
    return 1
  end
end
return 0
