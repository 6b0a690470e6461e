"""Lua scripts of the job store (`chorus.store.jobs`), kept apart so the store stays readable."""

from __future__ import annotations

# HSETNX the result; only the write that wins adds its spend, its metrics and its minute's fleet
# bucket (KEYS[5]) and announces it on the job's event stream, so a redelivery counts and
# announces nothing. ARGV[6..8] are the event's kind, data and the stream's MAXLEN; ARGV[9] is
# the bucket's TTL; ARGV[10] is where the bucket's (field, increment) pairs start: the pairs
# from ARGV[14] up to there go to the fleet's counters (KEYS[3]), the rest to the bucket.
# ARGV[11] is how long (ms) the subtask's delta stream (KEYS[6]) lingers once the result is in:
# not deleted at once, so a reader a moment behind still gets its last batch.
# ARGV[12] is the reply's last text as a `subtask_delta` event's data ("" for none), appended
# to the delta stream by the winning write before its `subtask_finished` (the stream emptied
# first when ARGV[13] is "1": the call's first batch). One round trip instead of two, and a
# losing write (a redelivery) publishes no text twice.
SAVE_RESULT_LUA = """
local created = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
if created == 1 then
  if ARGV[12] ~= '' then
    if ARGV[13] == '1' then
      redis.call('DEL', KEYS[6])
    end
    redis.call('XADD', KEYS[6], '*', 'kind', 'subtask_delta', 'data', ARGV[12])
  end
  redis.call('PEXPIRE', KEYS[6], ARGV[11])
  redis.call('HINCRBY', KEYS[2], 'tokens', ARGV[3])
  redis.call('HINCRBYFLOAT', KEYS[2], 'cost_usd', ARGV[4])
  redis.call('EXPIRE', KEYS[2], ARGV[5])
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[8], '*', 'kind', ARGV[6], 'data', ARGV[7])
  redis.call('EXPIRE', KEYS[4], ARGV[5])
  local split = tonumber(ARGV[10])
  for i = 14, split - 1, 2 do
    redis.call('HINCRBYFLOAT', KEYS[3], ARGV[i], ARGV[i + 1])
  end
  for i = split, #ARGV, 2 do
    redis.call('HINCRBYFLOAT', KEYS[5], ARGV[i], ARGV[i + 1])
  end
  redis.call('EXPIRE', KEYS[5], ARGV[9])
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
return redis.call('HGET', KEYS[1], ARGV[1])
"""
