-- Sample products, each in one of the sample categories, with the 'initial'
-- stock movement that explains its quantity. Loading this file again adds nothing.
WITH inserted AS (
INSERT INTO products (sku, name, description, price, quantity, category_id)
SELECT v.sku, v.name, v.description, v.price, v.quantity, c.id
FROM (VALUES
  ('ELEC-USBC-CBL-1M',  'USB-C Charging Cable 1 m',        'Braided USB-C to USB-C cable, 60 W', 9.99, 240, 'Electronics'),
  ('ELEC-WL-MOUSE',     'Wireless Optical Mouse',          '2.4 GHz receiver, 1600 DPI, AA battery included', 19.90, 85, 'Electronics'),
  ('ELEC-BT-SPKR-MINI', 'Bluetooth Mini Speaker',          'Water-resistant, 10 hours of playback', 34.50, 42, 'Electronics'),
  ('ELEC-NC-HDPH',      'Noise-Cancelling Headphones',     'Over-ear, active noise cancelling, 30 hours battery', 149.00, 18, 'Electronics'),
  ('ELEC-PWR-BANK-10K', 'Power Bank 10000 mAh',            'Two USB-A ports and one USB-C port', 27.95, 60, 'Electronics'),
  ('ELEC-HDMI-2M',      'HDMI 2.1 Cable 2 m',              '8K capable high-speed cable', 12.49, 130, 'Electronics'),
  ('ELEC-KB-MECH',      'Mechanical Keyboard',             'Tenkeyless, brown switches, USB-C', 89.00, 25, 'Electronics'),
  ('HOME-CHEF-KNIFE-8', 'Chef''s Knife 8 inch',            'Forged stainless steel blade', 45.00, 30, 'Home & Kitchen'),
  ('HOME-CAST-SKLT-10', 'Cast Iron Skillet 10 inch',       'Pre-seasoned, oven safe', 32.00, 22, 'Home & Kitchen'),
  ('HOME-FRENCH-PRESS', 'French Press 1 L',                'Borosilicate glass with steel frame', 24.99, 36, 'Home & Kitchen'),
  ('HOME-CUTBRD-BMB',   'Bamboo Cutting Board',            'Large board with juice groove', 18.75, 50, 'Home & Kitchen'),
  ('HOME-STOR-SET-5',   'Glass Storage Containers (Set of 5)', 'Airtight lids, microwave safe', 29.90, 40, 'Home & Kitchen'),
  ('HOME-TEA-TWL-3',    'Cotton Tea Towels (Pack of 3)',   '100 % cotton, 50 x 70 cm', 11.50, 75, 'Home & Kitchen'),
  ('OFF-A4-PAPER-500',  'A4 Copy Paper (500 sheets)',      '80 gsm, bright white', 6.49, 400, 'Office Supplies'),
  ('OFF-GEL-PEN-12',    'Gel Pens Black (Pack of 12)',     '0.7 mm retractable', 8.99, 160, 'Office Supplies'),
  ('OFF-STAPLER-STD',   'Desktop Stapler',                 'Staples up to 25 sheets', 14.25, 45, 'Office Supplies'),
  ('OFF-NOTEBK-A5',     'Hardcover Notebook A5',           'Dotted, 192 pages', 12.00, 90, 'Office Supplies'),
  ('OFF-STICKY-6PK',    'Sticky Notes (6 pads)',           '76 x 76 mm, assorted colours', 5.75, 210, 'Office Supplies'),
  ('OFF-DESK-ORG',      'Mesh Desk Organiser',             'Five compartments, black steel mesh', 21.40, 28, 'Office Supplies'),
  ('SPRT-YOGA-MAT',     'Yoga Mat 6 mm',                   'Non-slip, with carrying strap', 26.00, 55, 'Sports & Outdoors'),
  ('SPRT-DUMBB-5KG',    'Adjustable Dumbbell 5 kg',        'Cast iron plates, chrome handle', 39.99, 20, 'Sports & Outdoors'),
  ('SPRT-WTR-BTL-750',  'Insulated Water Bottle 750 ml',   'Keeps drinks cold for 24 hours', 22.50, 110, 'Sports & Outdoors'),
  ('SPRT-TENT-2P',      'Two-Person Dome Tent',            'Waterproof, packs to 2.1 kg', 119.00, 8, 'Sports & Outdoors'),
  ('SPRT-BIKE-LIGHTS',  'Bike Light Set',                  'USB rechargeable front and rear lights', 17.80, 64, 'Sports & Outdoors'),
  ('SPRT-JUMP-ROPE',    'Speed Jump Rope',                 'Adjustable steel cable with ball bearings', 9.50, 70, 'Sports & Outdoors'),
  ('TOOL-HAMMER-16',    'Claw Hammer 16 oz',               'Fibreglass handle', 16.90, 38, 'Tools & Hardware'),
  ('TOOL-SCRWDR-SET',   'Screwdriver Set (8 pieces)',      'Phillips and slotted, magnetic tips', 19.99, 44, 'Tools & Hardware'),
  ('TOOL-TAPE-5M',      'Tape Measure 5 m',                'Metric and imperial, belt clip', 8.25, 95, 'Tools & Hardware'),
  ('TOOL-DRILL-18V',    'Cordless Drill 18 V',             'Two batteries and charger included', 129.00, 12, 'Tools & Hardware'),
  ('TOOL-WOOD-SCR-200', 'Wood Screws 4 x 40 mm (200)',     'Zinc plated, countersunk', 7.60, 180, 'Tools & Hardware'),
  ('TOOL-LEVEL-60',     'Spirit Level 60 cm',              'Aluminium, three vials', 13.40, 33, 'Tools & Hardware'),
  ('GROC-COFFEE-1KG',   'Whole Bean Coffee 1 kg',          'Medium roast, single origin', 24.00, 48, 'Grocery'),
  ('GROC-OLIVE-OIL-1L', 'Extra Virgin Olive Oil 1 L',      'Cold pressed', 13.95, 66, 'Grocery'),
  ('GROC-PASTA-500',    'Durum Wheat Spaghetti 500 g',     'Bronze cut', 2.19, 300, 'Grocery'),
  ('GROC-GREEN-TEA-50', 'Green Tea (50 bags)',             'Sencha, individually wrapped', 4.80, 120, 'Grocery'),
  ('GROC-HONEY-500',    'Wildflower Honey 500 g',          'Raw, unfiltered', 8.40, 58, 'Grocery'),
  ('GROC-OATS-1KG',     'Rolled Oats 1 kg',                'Wholegrain', 3.10, 150, 'Grocery'),
  ('TOY-PUZZLE-1000',   'Jigsaw Puzzle 1000 Pieces',       'Landscape motif, 68 x 48 cm', 15.99, 35, 'Toys & Games'),
  ('TOY-CHESS-WOOD',    'Wooden Chess Set',                'Folding board with weighted pieces', 42.00, 14, 'Toys & Games'),
  ('TOY-BLOCKS-100',    'Building Blocks (100 pieces)',    'Compatible with major brands', 24.50, 40, 'Toys & Games'),
  ('TOY-CARD-GAME-UNO', 'Colour Matching Card Game',       'For 2 to 10 players', 7.99, 88, 'Toys & Games'),
  ('TOY-RC-CAR',        'Remote Control Car',              '1:18 scale, rechargeable battery', 54.90, 16, 'Toys & Games'),
  ('TOY-PLUSH-BEAR',    'Plush Teddy Bear 30 cm',          'Machine washable', 19.00, 52, 'Toys & Games'),
  ('MISC-GIFT-CARD-25', 'Gift Card 25',                    'Redeemable in store', 25.00, 500, 'Uncategorized')
) AS v (sku, name, description, price, quantity, category)
JOIN categories c ON lower(c.name) = lower(v.category)
-- A sample product archived since is left archived, not added again.
WHERE NOT EXISTS (SELECT 1 FROM products p WHERE lower(p.sku) = lower(v.sku))
ON CONFLICT DO NOTHING
RETURNING id, quantity
)
INSERT INTO stock_movements (product_id, delta, reason, note, quantity_after)
SELECT id, quantity, 'initial', 'sample data', quantity FROM inserted WHERE quantity > 0 ORDER BY id;
