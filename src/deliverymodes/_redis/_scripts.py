"""The Lua scripts that keep a channel in Redis: each runs atomically, in one round trip.

A channel with key ``K`` is three things in Redis:

- the stream ``K``: one entry per retained message, its id ``<offset>-1`` and its fields ``p``
  (the payload's bytes), ``s`` (its size as the publisher's sizer measured it) and ``t`` (its
  publish time, Unix seconds);
- the hash ``K:meta``: ``epoch`` (the channel's life), ``head`` (the next offset) and ``bytes``
  (the sizes of the retained messages, summed);
- the Pub/Sub channel ``K``: every publish is announced there, with every message of the batch
  (the format is under ``PUBLISH``).

When the hash is missing (a new channel, or Redis lost its data) the next script to run starts
a new life: a new epoch, offsets from 0, the stream emptied.
"""

from __future__ import annotations

import hashlib

import attrs

__all__ = ["PUBLISH", "READ", "Script"]


@attrs.frozen
class Script:
    """A Lua script, run by its SHA-1 (``EVALSHA``) once Redis knows it."""

    source: str
    sha: str = attrs.field(init=False)

    @sha.default
    def _sha(self) -> str:
        return hashlib.sha1(self.source.encode()).hexdigest()


# Shared by both scripts, whose first five arguments are the same (ARGV 1: the epoch of a new
# life, 2: now, 3-5: max messages, max bytes, max age, '' for none): the channel's life, begun
# if need be, and trimming to the retention.
_COMMON = """
local stream, meta = KEYS[1], KEYS[2]
local fields = redis.call('HMGET', meta, 'epoch', 'head', 'bytes')
local epoch, head, bytes = fields[1], tonumber(fields[2]), tonumber(fields[3]) or 0
if not epoch or not head then
  local kind = redis.call('TYPE', stream)['ok']
  if kind == 'stream' then
    redis.call('DEL', stream)
  elseif kind ~= 'none' then
    return redis.error_reply('WRONGTYPE key ' .. stream .. ' holds a ' .. kind .. ', not a stream')
  end
  epoch, head, bytes = ARGV[1], 0, 0
  redis.call('HSET', meta, 'epoch', epoch, 'head', 0, 'bytes', 0)
end
local now = tonumber(ARGV[2])
local max_messages, max_bytes, max_age = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local function trim()
  local length = redis.call('XLEN', stream)
  while length > 0 do
    local over = (max_messages and length > max_messages) or (max_bytes and bytes > max_bytes)
    if not over and not max_age then break end
    local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
    local fields = oldest[2]
    if not over then over = tonumber(fields[6]) < now - max_age end
    if not over then break end
    redis.call('XDEL', stream, oldest[1])
    bytes = bytes - tonumber(fields[4])
    length = length - 1
  end
  return length
end
"""

#: Publish a batch of messages, in order. ARGV 1-5 as above, then three per message: its
#: payload, its size and its publish time. Returns {epoch, the first message's offset}. The
#: notification carries every message of the batch: ``<epoch> <first offset> <count>``, a
#: newline, ``<size> <time> <length>`` for each message (separated by spaces), a newline, then
#: the payloads one after the other. With ``max_messages`` alone, the ``XADD`` trims (exactly)
#: and ``bytes`` is not kept.
PUBLISH = Script(
    # First, before anything is written: Redis does not undo a script's writes when a later
    # command fails, and an ACL may allow the stream but not the announcement.
    """
if not redis.acl_check_cmd('PUBLISH', KEYS[1], '') then
  return redis.error_reply('NOPERM this user may not publish to the channel ' .. KEYS[1])
end"""
    + _COMMON
    + """
local numbers, payloads = {}, {}
local plain = not max_bytes and not max_age
local first = head
for i = 6, #ARGV, 3 do
  local payload, size, time = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local id = string.format('%d-1', head)
  if max_messages and plain then
    redis.call('XADD', stream, 'MAXLEN', max_messages, id, 'p', payload, 's', size, 't', time)
  else
    redis.call('XADD', stream, id, 'p', payload, 's', size, 't', time)
    bytes = bytes + tonumber(size)
  end
  numbers[#numbers + 1] = size .. ' ' .. time .. ' ' .. #payload
  payloads[#payloads + 1] = payload
  head = head + 1
end
if not plain then trim() end
redis.call('HSET', meta, 'head', head, 'bytes', bytes)
redis.call('PUBLISH', stream, epoch .. string.format(' %d %d\\n', first, #payloads)
  .. table.concat(numbers, ' ') .. '\\n' .. table.concat(payloads))
return {epoch, first}
"""
)

#: Read from a cursor. ARGV 1-5 as above, then 6: the cursor ('earliest', 'latest' or an
#: offset), 7: most entries, 8: the epoch the cursor belongs to ('': this one; from another, the
#: read starts at the earliest). Returns {epoch, head, first, bytes, retained, start, entries}:
#: ``start`` is where the read began (the cursor, or ``first`` if that was evicted), each entry
#: ``{id, {'p', payload, 's', size, 't', time}}``.
READ = Script(
    _COMMON
    + """
local before = bytes
local retained = trim()
if bytes ~= before then redis.call('HSET', meta, 'bytes', bytes) end
local first = head
local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
if oldest then first = tonumber(string.match(oldest[1], '^(%d+)')) end
local start
if ARGV[6] == 'earliest' or (ARGV[8] ~= '' and ARGV[8] ~= epoch) then
  start = first
elseif ARGV[6] == 'latest' then
  start = head
else
  start = math.max(tonumber(ARGV[6]), first)
end
local entries = {}
local count = tonumber(ARGV[7])
if count > 0 and start < head then
  entries = redis.call('XRANGE', stream, string.format('%d-1', start), '+', 'COUNT', count)
end
return {epoch, head, first, bytes, retained, start, entries}
"""
)
