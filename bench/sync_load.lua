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

function request()
  local at = os.date("!%Y-%m-%dT%H:%M:%S+00:00")
  local parts = {}
  for i = 1, size do
    parts[i] = change(i, at)
  end
  local body = '{"device_id":"' .. device .. '","changes":[' .. table.concat(parts, ",") .. "]}"
  return wrk.format("POST", "/api/v1/sync", headers, body)
end

function response(status, _headers, body)
  if status ~= 200 then
    failures = failures + 1
    return
  end
  local _, applied = string.gsub(body, '"status":%s*"applied"', "")
  if applied ~= size then
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
