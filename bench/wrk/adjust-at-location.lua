-- POST a receipt of one unit at the second location (id 2) of a random product: the adjustment
-- by location, through stock_adjust (wrk.args[1] = highest product id).
local max = 1000000
init = function(args) if args[1] then max = tonumber(args[1]) end end
request = function()
  return wrk.format("POST", "/products/" .. math.random(max) .. "/stock-adjustments",
    { ["Content-Type"] = "application/json" }, '{"delta":1,"reason":"received","location":2}')
end
