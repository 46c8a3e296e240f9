-- GET the first page of 20 products found by searching an adjective and a noun of the
-- catalog's vocabulary (bench/catalog.ts), one of 40 pairs at random;
-- bench/sql/search-two-words.sql picks from the same list.
local queries = {
  "foldable phone", "woollen wok", "granite skirt", "silicone binder", "classic rake",
  "slim headset", "electric grater", "glossy sneaker", "cordless scanner", "bamboo leash",
  "velvet desk", "maple plate", "aluminium lantern", "premium screen", "rugged drum", "padded table",
  "recycled bottle", "portable paddle", "cotton heater", "marble frame", "rubber pillow",
  "modern lunchbox", "lightweight football", "analog mop", "matte teddy", "adjustable mirror",
  "steel belt", "silk watch", "walnut wrench", "titanium apron", "deluxe kettle",
  "waterproof jacket", "insulated pendant", "brushed chisel", "compact laptop", "leather skillet",
  "brass trousers", "plastic stapler", "vintage sprinkler", "heavy adapter"
}
math.randomseed(os.time())
request = function()
  local q = queries[math.random(#queries)]:gsub(" ", "%%20")
  return wrk.format("GET", "/products?q=" .. q .. "&limit=20")
end
