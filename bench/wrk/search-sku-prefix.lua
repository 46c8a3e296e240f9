-- GET the first page of 20 products whose SKU starts with a noun and adjective code
-- (bench/catalog.ts: SKUs like MOU-WI-0001234), one of 40 prefixes at random;
-- bench/sql/search-sku-prefix.sql picks from the same list.
local prefixes = {
  "MIC-PO", "SUI-WA", "ENV-HE", "CHE-PO", "SPA-WO", "BIC-AL", "LAD-AN", "BEN-CO", "SHI-OA", "BAT-BU",
  "KEY-GL", "MUG-CO", "EAR-TI", "AQU-DI", "BAS-WI", "UMB-GR", "SPO-PR", "CAM-MA", "WAL-LE", "CAL-CA",
  "KIT-SM", "LAD-CO", "SCO-MA", "HOS-DE", "SOF-ST", "BLO-CE", "DOO-SI", "MON-RU", "CUP-AD", "BRO-BR",
  "GUI-RU", "BUC-QU", "RAI-BA", "HAM-RU", "TRI-WA", "PUR-HA", "PLA-CO", "YOY-CL", "WHI-PA", "SKA-ST"
}
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/products?sku_prefix=" .. prefixes[math.random(#prefixes)] .. "&limit=20")
end
