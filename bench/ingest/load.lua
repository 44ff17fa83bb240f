-- wrk script: POST Segment messages with a unique messageId per event.
-- Arguments: path, events per request (1 = a single /track message, N = a batch of N).
local thread_count = 0
local template = '{"type":"track","userId":"user-%d","anonymousId":"anon-%d","event":"Product Viewed",' ..
  '"messageId":"%s","timestamp":"2026-01-01T10:00:00.000Z","sentAt":"2026-01-01T10:00:01.000Z",' ..
  '"context":{"ip":"203.0.113.7","library":{"name":"analytics.js","version":"4.1.0"},' ..
  '"page":{"path":"/p/trail-runner","url":"https://shop.example/p/trail-runner",' ..
  '"referrer":"https://www.google.com/"},"userAgent":"Mozilla/5.0 (X11; Linux x86_64) bench",' ..
  '"campaign":{"source":"google","medium":"cpc","name":"brand-search"},"locale":"en-GB"},' ..
  '"properties":{"product_id":"trail-runner","sku":"TR-42","category":"shoes","price":89.0,' ..
  '"currency":"EUR","position":3,"list":"search results"}}'

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  path = args[1]
  per_request = tonumber(args[2])
  counter = 0
  math.randomseed(os.time() + tid)
  run = math.random(1, 1000000000)
end

local function message()
  counter = counter + 1
  local user = (counter * 7919) % 50000
  return string.format(template, user, user, string.format("b%d-%d-%d", run, tid, counter))
end

function request()
  local body
  if per_request == 1 then
    body = message()
  else
    local parts = {}
    for i = 1, per_request do parts[i] = message() end
    body = '{"batch":[' .. table.concat(parts, ",") .. ']}'
  end
  return wrk.format("POST", path, nil, body)
end
