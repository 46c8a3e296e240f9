-- GET one keyset page of 50 products of a random category (50 categories).
local names = {}
for i = 1, 50 do names[i] = string.format("Category%%20%02d", i) end
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/products?category=" .. names[math.random(50)] .. "&limit=50")
end
