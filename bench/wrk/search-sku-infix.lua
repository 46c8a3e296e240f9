-- GET the first page of 20 products found by searching a fragment from the middle of SKUs
-- (adjective code, dash, the first five digits of the number: "WI-00012" finds MOU-WI-0001234),
-- one of 40 at random; bench/sql/search-sku-infix.sql picks from the same list.
local fragments = {
  "PA-00099", "PR-00346", "PA-00593", "MO-00839", "OR-01086", "PL-01333", "CO-01580", "CA-01826",
  "RU-02073", "SI-02320", "LI-02566", "SI-02813", "MO-03060", "LI-03306", "ST-03553", "ER-03800",
  "SM-04047", "CA-04293", "CO-04540", "WO-04787", "CE-05033", "SI-05280", "GR-05527", "ST-05774",
  "FO-06020", "GR-06267", "ER-06514", "MA-06760", "CO-07007", "RU-07254", "GL-07501", "LE-07747",
  "GL-07994", "AL-08241", "SM-08487", "MA-08734", "OR-08981", "BA-09228", "LI-09474", "WI-09721"
}
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/products?q=" .. fragments[math.random(#fragments)] .. "&limit=20")
end
