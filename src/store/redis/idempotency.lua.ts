/**
 * Lua for Redis idempotency records. One hash per (scope, key): fp, st (in_flight|completed), rs
 * (the response JSON), lu (locked until, the fencing token), ca (created at), ea (expires at).
 * Times come from the caller (so a test clock works); Redis's own expiry only collects garbage.
 */

/** KEYS[1]; ARGV: fingerprint, now, lockedUntil, expiresAt, gcMs. Returns {status, fields…}. */
export const BEGIN = `
local r = redis.call('HMGET', KEYS[1], 'fp', 'st', 'lu', 'ca', 'ea', 'rs')
local now = tonumber(ARGV[2])
if r[1] == false or tonumber(r[5]) <= now then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'st', 'in_flight', 'lu', ARGV[3], 'ca', ARGV[2], 'ea', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return {'acquired'}
end
local record = {r[1], r[2], r[3] or '', r[4], r[5], r[6] or ''}
if r[1] ~= ARGV[1] then return {'mismatch', unpack(record)} end
if r[2] == 'completed' then return {'completed', unpack(record)} end
if tonumber(r[3]) <= now then
  redis.call('HSET', KEYS[1], 'lu', ARGV[3])
  return {'acquired'}
end
return {'in_flight', unpack(record)}
`;

/** KEYS[1]; ARGV: response, expiresAt, gcMs, lockedUntil ('' = unfenced). Returns 1 when completed. */
export const COMPLETE = `
local r = redis.call('HMGET', KEYS[1], 'st', 'lu')
if r[1] == false then return 0 end
if ARGV[4] ~= '' and (r[1] ~= 'in_flight' or r[2] ~= ARGV[4]) then return 0 end
redis.call('HSET', KEYS[1], 'st', 'completed', 'rs', ARGV[1], 'ea', ARGV[2])
redis.call('HDEL', KEYS[1], 'lu')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`;

/** KEYS[1]; ARGV: lockedUntil ('' = unfenced). Deletes an in-flight record. */
export const RELEASE = `
local r = redis.call('HMGET', KEYS[1], 'st', 'lu')
if r[1] ~= 'in_flight' then return 0 end
if ARGV[1] ~= '' and r[2] ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`;
