-- bench:proxy full stack: every request carries one of 1,000 user ids, so consistent hashing spreads
-- over the endpoints and the per-key rate limit keeps 1,000 buckets.
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, { ["Host"] = "bench", ["x-user-id"] = tostring(n % 1000) })
end
