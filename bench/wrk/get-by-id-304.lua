-- GET one product by a random id, with If-None-Match: * (any current representation matches):
-- the same lookup as get-by-id.lua, answered 304 with no body (wrk.args[1] = highest id).
local max = 1000000
init = function(args) if args[1] then max = tonumber(args[1]) end end
request = function()
  return wrk.format("GET", "/products/" .. math.random(max), { ["If-None-Match"] = "*" })
end
