-- wrk script for bench/sync.py: each request POSTs a fresh batch of new captures to
-- /api/v1/sync, as a phone's outbox does, and counts every answer that is not a 200 with
-- all of its changes "applied".
--
--   wrk -t2 -c16 -d10s -s bench/sync_load.lua http://127.0.0.1:PORT -- TOKEN [BATCH]
--
-- Change ids are time-ordered like the phone's (UUIDv7 layout: the time first, then a
-- counter and random bits), so each batch's ids are new and never repeat.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_no", #threads)
end

local function hex(n) -- n random hex digits, n a multiple of 4 (four at a time: cheap)
  local out = {}
  for i = 1, n / 4 do
    out[i] = string.format("%04x", math.random(0, 65535))
  end
  return table.concat(out)
end

function init(args)
  token = args[1]
  size = tonumber(args[2] or "20")
  math.randomseed(os.time() * 1009 + thread_no * 7919)
  local tail = hex(8)
  device = string.format(
    "%s-%s-4%s-8%s-%s", hex(8), hex(4), tail:sub(1, 3), tail:sub(4, 6), hex(12)
  )
  counter = 0
  failures = 0
  headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }
  prepare(tonumber(args[3] or "6000"))
end

local function change_id()
  counter = counter + 1
  -- seconds | thread | counter (28 bits) | random: increasing within a thread, like UUIDv7
  return string.format(
    "%08x-%02x%02x-7%03x-%04x-%s",
    os.time(), thread_no % 256, math.floor(counter / 65536) % 256,
    math.floor(counter / 16) % 4096, 0x8000 + (counter % 16) * 1024 + math.random(0, 1023),
    hex(12)
  )
end

local function change(seq, at)
  local tag = hex(12)
  return string.format(
    '{"id":"%s","seq":%d,"kind":"capture","op":"upsert","at":"%s","data":{'
      .. '"name":"Person %s","email":"%s@example.com","org":"Bench Corp",'
      .. '"note":"Met at the benchmark booth; wants the write-up.","rating":"warm",'
      .. '"hooks":[{"type":"send_resource","detail":"the write-up","owed_by":"me"}]}}',
    change_id(), seq, at, tag, tag
  )
end

local function build()
  local at = os.date("!%Y-%m-%dT%H:%M:%S+00:00")
  local parts = {}
  for i = 1, size do
    parts[i] = change(i, at)
  end
  local body = '{"device_id":"' .. device .. '","changes":[' .. table.concat(parts, ",") .. "]}"
  return wrk.format("POST", "/api/v1/sync", headers, body)
end

-- The batches are made in init, before wrk starts its clock: during the run the client only
-- sends them, as a phone sends what its outbox already holds, and its Lua takes no CPU from
-- the server beside it (the hello's client runs no Lua at all). Past the prepared ones
-- (a run faster than POOL batches per thread), each is made when it is sent.
function prepare(count)
  pool = {}
  for i = 1, count do
    pool[i] = build()
  end
  next_in_pool = 1
end

function request()
  local prepared = pool[next_in_pool]
  if prepared == nil then
    return build()
  end
  pool[next_in_pool] = nil
  next_in_pool = next_in_pool + 1
  return prepared
end

-- Every answer must be a 200 whose changes are all "applied": size plain searches for the
-- status (a substring search, not a pattern), and none of any other status.
local APPLIED = '"status":"applied"'

function response(status, _headers, body)
  if status ~= 200 then
    failures = failures + 1
    return
  end
  local found, at = 0, 1
  while true do
    local from, to = string.find(body, APPLIED, at, true)
    if from == nil then
      break
    end
    found, at = found + 1, to + 1
  end
  if found ~= size then
    failures = failures + 1
  end
end

function done(_summary, _latency, _requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("failures")
  end
  io.write(string.format("BENCH-FAILURES %d\n", total))
end
