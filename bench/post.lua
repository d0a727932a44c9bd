-- POSTs BENCH_BODY (a file) to wrk's URL. With BENCH_AT set (1-based), writes an 8-digit
-- counter, from BENCH_FIRST on, at that offset of the body in every request, so no two
-- requests of a run are the same bytes and no answer cache can answer them. Prints
-- `sent N` at the end: the requests written, answered or not. Used by cpu.sh and
-- examples.py.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
local body = f:read("*a")
f:close()
local at = tonumber(os.getenv("BENCH_AT") or "")
local head, tail, same
if at then
  head, tail = body:sub(1, at - 1), body:sub(at + 8)
end
local n = tonumber(os.getenv("BENCH_FIRST"))
sent = 0
function request()
  sent = sent + 1
  if not at then
    same = same or wrk.format(nil, nil, nil, body)
    return same
  end
  n = n + 1
  return wrk.format(nil, nil, nil, head .. string.format("%08d", n) .. tail)
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function done()
  local total = 0
  for _, t in ipairs(threads) do
    total = total + t:get("sent")
  end
  io.write(string.format("sent %d\n", total))
end
