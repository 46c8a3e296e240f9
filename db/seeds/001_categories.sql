-- Sample categories. Loading this file again adds nothing.
INSERT INTO categories (name, description) VALUES
  ('Electronics',   'Phones, audio, computer accessories and small devices'),
  ('Home & Kitchen','Cookware, storage and everyday household goods'),
  ('Office Supplies','Paper, writing instruments and desk organisation'),
  ('Sports & Outdoors','Fitness gear, camping and cycling equipment'),
  ('Tools & Hardware','Hand tools, power tools and fasteners'),
  ('Grocery',       'Shelf-stable food and beverages'),
  ('Toys & Games',  'Board games, puzzles and toys for all ages'),
  ('Uncategorized', 'Products created without a category')
ON CONFLICT DO NOTHING;
