/**
 * Lua for Redis rate-limit state: the arithmetic of `weir/server`'s rate-limit algorithms
 * (GCRA token bucket, sliding window counter), applied to every rule of a partition at once,
 * all-or-nothing. One hash per (partition, rule): `t` (token bucket) or `s`, `c`, `p` (window).
 *
 * KEYS: one per rule. ARGV: now, cost, then per rule: algorithm (1 bucket, 2 window), limit, windowMs.
 * Returns, per rule: allowed (0/1), remaining, resetMs, retryAfterMs.
 */
export const CONSUME = `
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local eps = 1e-9
local out = {}
local writes = {}
local all = true
for i = 1, #KEYS do
  local b = 2 + (i - 1) * 3
  local algo = tonumber(ARGV[b + 1])
  local limit = tonumber(ARGV[b + 2])
  local w = tonumber(ARGV[b + 3])
  local ok, remaining, reset, retry
  if algo == 1 then
    local interval = w / limit
    local tat = tonumber(redis.call('HGET', KEYS[i], 't') or now)
    if tat < now then tat = now end
    local newTat = tat + cost * interval
    local allowAt = newTat - w
    if allowAt <= now + eps then
      ok = 1
      remaining = math.max(0, math.floor((w - (newTat - now)) / interval + eps))
      reset = math.ceil(newTat - now)
      retry = 0
      writes[i] = {'t', string.format('%.3f', newTat), math.ceil(newTat - now) + 1000}
    else
      ok = 0
      retry = math.ceil(allowAt - now)
      remaining = math.max(0, math.floor((w - (tat - now)) / interval + eps))
      reset = retry
    end
  else
    local start = math.floor(now / w) * w
    local st = redis.call('HMGET', KEYS[i], 's', 'c', 'p')
    local cur, prev = 0, 0
    if st[1] then
      local s = tonumber(st[1])
      if s == start then cur = tonumber(st[2]); prev = tonumber(st[3])
      elseif s == start - w then prev = tonumber(st[2]) end
    end
    local weight = (w - (now - start)) / w
    local used = prev * weight + cur
    if used + cost <= limit + eps then
      ok = 1
      remaining = math.max(0, math.floor(limit - (prev * weight + cur + cost) + eps))
      reset = start + w - now
      retry = 0
      writes[i] = {'s', start, 'c', cur + cost, 'p', prev, 2 * w}
    else
      ok = 0
      local at = nil
      local room = limit - cost - cur
      if room >= 0 and prev > 0 then
        local t = start + w * (1 - room / prev)
        if t < start + w then at = t end
      end
      if at == nil then
        if cur <= limit - cost then at = start + w else at = start + 2 * w - w * (limit - cost) / cur end
      end
      retry = math.max(1, math.ceil(at - now))
      remaining = math.max(0, math.floor(limit - used + eps))
      reset = retry
    end
  end
  if ok == 0 then all = false end
  out[#out + 1] = ok
  out[#out + 1] = remaining
  out[#out + 1] = reset
  out[#out + 1] = retry
end
if all then
  for i = 1, #KEYS do
    local wr = writes[i]
    if #wr == 3 then
      redis.call('HSET', KEYS[i], wr[1], wr[2])
      redis.call('PEXPIRE', KEYS[i], wr[3])
    else
      redis.call('HSET', KEYS[i], wr[1], wr[2], wr[3], wr[4], wr[5], wr[6])
      redis.call('PEXPIRE', KEYS[i], wr[7])
    end
  end
else
  for i = 1, #KEYS do
    local limit = tonumber(ARGV[2 + (i - 1) * 3 + 2])
    if out[(i - 1) * 4 + 1] == 1 then out[(i - 1) * 4 + 2] = math.min(limit, out[(i - 1) * 4 + 2] + cost) end
  end
end
return out
`;
