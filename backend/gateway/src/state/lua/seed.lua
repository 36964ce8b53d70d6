-- Seeds a budget period's spend from storage unless another replica already did.
-- KEYS: the budget hash. ARGV: spend (picos), ttl ms (0: never expires).
if redis.call('HSETNX', KEYS[1], 'seeded', 1) == 1 then
  redis.call('HINCRBY', KEYS[1], 'spent', ARGV[1])
  if tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
  return 1
end
return 0
