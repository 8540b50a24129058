-- wrk script: POSTs one GraphQL request over and over and checks every answer.
--
--   BODY_FILE  path of a JSON body {"query": ..., "variables": ...}   (required)
--   TOKEN      sent as "Authorization: Bearer $TOKEN" when set
--
-- An answer counts as an error when its status is not 200 or its body holds "errors"
-- (GraphQL servers answer 200 with an "errors" member for failed operations). Socket errors
-- and timeouts that wrk counts itself are added. `done` prints one line:
--   RESULT requests=N errors=N rps=N p50_ms=N p99_ms=N
-- and, when some answer failed, the first failed answer seen (status and start of the body).

local body_file = os.getenv("BODY_FILE")
if not body_file or body_file == "" then
  error("BODY_FILE must name the JSON body to send")
end
local f = assert(io.open(body_file, "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

-- Each wrk thread runs its own Lua state: these counters are per thread and are read back
-- from the main state in `done` through the thread handles kept by `setup`.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

answers = 0
errors = 0
first_error = nil

function response(status, headers, response_body)
  answers = answers + 1
  if status ~= 200 or string.find(response_body, '"errors"', 1, true) then
    errors = errors + 1
    if first_error == nil then
      first_error = "status " .. status .. ": " .. string.sub(response_body, 1, 300)
    end
  end
end

function done(summary, latency, requests)
  local answered, failed, sample = 0, 0, nil
  for _, thread in ipairs(threads) do
    answered = answered + thread:get("answers")
    failed = failed + thread:get("errors")
    sample = sample or thread:get("first_error")
  end
  local e = summary.errors
  -- wrk's own status count (>= 400) is left out: `response` has counted those answers already.
  failed = failed + e.connect + e.read + e.write + e.timeout
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d answers=%d errors=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, answered, failed, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  if sample then
    io.write("FIRST_ERROR " .. string.gsub(sample, "\n", " ") .. "\n")
  end
end
