-- migrate:up

-- The words of the products written before the triggers of the previous
-- migration existed. It reads products without blocking their writers; a
-- product written since that migration committed has added its words itself.
INSERT INTO search_words (word)
SELECT DISTINCT w FROM products p, search_words_of(p.name, p.description) w
ORDER BY 1
ON CONFLICT DO NOTHING;

-- migrate:down

-- Nothing to undo: the previous migration's down drops the table.
