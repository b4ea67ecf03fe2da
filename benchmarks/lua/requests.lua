-- Replays a mix of requests prepared by the benchmark: one per line of the file given after
-- `--` on the wrk command line, as "METHOD<TAB>PATH<TAB>BODY" (BODY may be empty).
-- Each request picks a line at random; status codes are counted per thread and reported.

local requests = {}
local counts = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    local method, path, body = line:match("^(%u+)\t([^\t]+)\t?(.*)$")
    if method then
      table.insert(requests, {method = method, path = path, body = body})
    end
  end
  file:close()
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16))
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local r = requests[math.random(#requests)]
  local body = nil
  if r.body ~= "" then body = r.body end
  return wrk.format(r.method, r.path, nil, body)
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  -- Published as a global string: done() reads it with thread:get, which copies strings only.
  local parts = {}
  for s, n in pairs(counts) do parts[#parts + 1] = s .. "=" .. n end
  encoded_counts = table.concat(parts, ",")
end

function done(summary, latency, requests_)
  local total = {}
  for _, thread in ipairs(threads) do
    local encoded = thread:get("encoded_counts")
    if encoded then
      for status, n in encoded:gmatch("(%d+)=(%d+)") do
        total[status] = (total[status] or 0) + tonumber(n)
      end
    end
  end
  local parts = {}
  for status, n in pairs(total) do table.insert(parts, string.format('"%s": %d', status, n)) end
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    table.concat(parts, ", ")))
end

