-- POST a reservation of one unit of a random product at the default location for 1 second,
-- through stock_reserve (wrk.args[1] = highest product id). About 1 product in 500 has no stock
-- there and is answered 409 insufficient_stock. A second lets reservations expire as fast as they come.
local max = 1000000
init = function(args) if args[1] then max = tonumber(args[1]) end end
request = function()
  return wrk.format("POST", "/reservations", { ["Content-Type"] = "application/json" },
    string.format('{"product":%d,"quantity":1,"expires_in_s":1}', math.random(max)))
end
