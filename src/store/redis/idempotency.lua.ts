/**
 * Lua for Redis idempotency records. One hash per (scope, key): fp, st (in_flight|completed), rs
 * (the response JSON), lu (locked until, the fencing token; '' once completed), ca (created at),
 * ea (expires at).
 * Times come from the caller (so a test clock works); Redis's own expiry only collects garbage.
 *
 * One script runs a batch of operations (see `batch.ts`), in order and atomically as a whole:
 * KEYS, one per operation; ARGV[1], a JSON array with one array of strings per operation: its kind,
 * then its arguments; then ARGV[2…], the response of each `c` operation, in order. Answers a JSON
 * array with one result per operation:
 * - `b` begin: fingerprint, now, lockedUntil, expiresAt, gcMs. Returns [status, fields…];
 * - `c` complete: expiresAt, gcMs, lockedUntil ('' = unfenced); its response is the next ARGV.
 *   Returns 1 when completed;
 * - `r` release: lockedUntil ('' = unfenced). Deletes an in-flight record, returns 1 when deleted.
 * An operation on a key of another type answers ['error', message] and leaves the others alone.
 * One JSON argument and one JSON answer keep the client's work per operation small.
 */
export const BATCH = `
local function begin(k, fp, now, lu, ea, gc)
  local r = redis.pcall('HMGET', k, 'fp', 'st', 'lu', 'ca', 'ea', 'rs')
  if r.err then return {'error', r.err} end
  local t = tonumber(now)
  if r[1] == false or tonumber(r[5]) <= t then
    if r[1] ~= false then redis.call('DEL', k) end
    redis.call('HSET', k, 'fp', fp, 'st', 'in_flight', 'lu', lu, 'ca', now, 'ea', ea)
    redis.call('PEXPIRE', k, gc)
    return {'acquired'}
  end
  local record = {r[1], r[2], r[3] or '', r[4], r[5], r[6] or ''}
  if r[1] ~= fp then return {'mismatch', unpack(record)} end
  if r[2] == 'completed' then return {'completed', unpack(record)} end
  if tonumber(r[3]) <= t then
    redis.call('HSET', k, 'lu', lu)
    return {'acquired'}
  end
  return {'in_flight', unpack(record)}
end

local function complete(k, rs, ea, gc, lu)
  local r = redis.pcall('HMGET', k, 'st', 'lu')
  if r.err then return {'error', r.err} end
  if r[1] == false then return 0 end
  if lu ~= '' and (r[1] ~= 'in_flight' or r[2] ~= lu) then return 0 end
  redis.call('HSET', k, 'st', 'completed', 'rs', rs, 'ea', ea, 'lu', '')
  redis.call('PEXPIRE', k, gc)
  return 1
end

local function release(k, lu)
  local r = redis.pcall('HMGET', k, 'st', 'lu')
  if r.err then return {'error', r.err} end
  if r[1] ~= 'in_flight' then return 0 end
  if lu ~= '' and r[2] ~= lu then return 0 end
  return redis.call('DEL', k)
end

local ops = cjson.decode(ARGV[1])
local out = {}
local blob = 1
for i = 1, #KEYS do
  local op = ops[i]
  local kind = op[1]
  if kind == 'b' then out[i] = begin(KEYS[i], op[2], op[3], op[4], op[5], op[6])
  elseif kind == 'c' then
    blob = blob + 1
    out[i] = complete(KEYS[i], ARGV[blob], op[2], op[3], op[4])
  else out[i] = release(KEYS[i], op[2]) end
end
return cjson.encode(out)
`;
