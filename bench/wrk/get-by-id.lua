-- GET one product by a random id among the loaded ones (wrk.args[1] = highest id).
local max = 1000000
init = function(args) if args[1] then max = tonumber(args[1]) end end
request = function()
  return wrk.format("GET", "/products/" .. math.random(max))
end
