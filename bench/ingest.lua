-- wrk script: POST a unique lead per request (thread id + counter), with the bearer token.
local counter = 0
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  token = args[1] or "bench-token"
  -- The warm-up and the measured run send different leads: a repeat would take the cheaper duplicate path.
  run = args[2] or "run"
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"source":"tradingtwins","subject":"Neue Anfrage %s-%d-%d","raw_body":"Firma: Kunde %s-%d-%d GmbH\\nAnsprechpartner: Herr Max Muster\\nE-Mail: max%d.%d@kunde-gmbh.de\\nTelefon: 030 1234567"}',
    run, tid, counter, run, tid, counter, tid, counter)
  return wrk.format("POST", "/api/ingest",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d non2xx=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
