-- wrk script: a browser-like header set plus an x-user-id rotating over N users (default 1000), so the
-- sticky percent rule is exercised; the cookie matches no rule. Requests are pre-formatted in init() so
-- wrk's own per-request cost is tiny and equal for every peer. (Same load as ../shared/bench/lua/users.lua.)
-- BENCH_POST_BYTES=N makes every request a POST with an N-byte body.
local reqs = {}
local n, i = 0, 0
local body = nil
init = function(args)
  n = tonumber(args[1]) or 1000
  -- BENCH_POST_BYTES=16384: every request is a POST with a body of that many bytes.
  local bytes = tonumber(os.getenv("BENCH_POST_BYTES") or "")
  if bytes then
    body = string.rep("x", bytes)
    wrk.headers["Content-Type"] = "application/octet-stream"
  end
  for u = 1, n do
    local h = {}
    for k, v in pairs(wrk.headers) do h[k] = v end
    h["Host"] = "prod.example.com"
    h["User-Agent"] = "wrk-bench/1.0"
    h["Accept"] = "*/*"
    h["Accept-Encoding"] = "gzip, deflate"
    h["Cookie"] = "sid=0123456789abcdef; theme=dark; canary=never"
    h["x-user-id"] = "user-" .. u
    h["x-app-version"] = "2.1." .. (u % 10)
    if body then
      reqs[u] = wrk.format("POST", "/shop/item/" .. u .. "?ref=home", h, body)
    else
      reqs[u] = wrk.format("GET", "/shop/item/" .. u .. "?ref=home", h)
    end
  end
end
request = function()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end
