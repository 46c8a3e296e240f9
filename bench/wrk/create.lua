-- POST a new product (unique SKU and name) with an initial quantity, so each
-- request also writes its ledger row. wrk.args[1] = a run tag keeping names unique.
local tag, counter, thread_id = "r", 0, 0
local threads = {}
setup = function(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end
init = function(args)
  if args[1] then tag = args[1] end
  math.randomseed(os.time() + thread_id)
end
request = function()
  counter = counter + 1
  local id = string.format("%s-%d-%d", tag, thread_id, counter)
  local body = string.format(
    '{"sku":"WRK-%s","name":"Bench product %s","price":"19.99","quantity":5,"category":"Category %02d"}',
    id, id, math.random(50))
  return wrk.format("POST", "/products", { ["Content-Type"] = "application/json" }, body)
end
