/**
 * The benchmark's catalog: product rows built from a vocabulary, deterministically from their
 * number, so that searches find what they would in a real catalog (bench/run.ts, bench/search-write-cost.ts).
 *
 *   name         `<Adjective> <Noun> M<i>`                     "Wireless Mouse M1234" (unique by its model code)
 *   description  `<Colour> <adjective> finish, item <i>`       "Crème bamboo finish, item 1234"
 *   sku          `<NOU>-<AD>-<i, 7 digits>`                    "MOU-WI-0001234": noun prefix, adjective prefix, number
 *
 * The adjective of the name and that of the description are drawn independently, so a product
 * holds one noun and up to two adjectives: an adjective-noun query matches about
 * 1 / NOUNS * 2 / ADJECTIVES of the products (about 185 at 1,000,000), more where a query word is
 * also the start of other words or close enough to them to be taken for a misspelling of them.
 */
import type postgres from 'postgres';

export const ADJECTIVES: readonly string[] = (
  'Wireless Compact Portable Foldable Wooden Steel Bamboo Ceramic Leather Cotton Woollen Linen ' +
  'Silk Velvet Copper Brass Marble Granite Oak Walnut Maple Cedar Plastic Rubber Silicone Carbon ' +
  'Titanium Aluminium Chrome Vintage Modern Classic Rustic Deluxe Premium Budget Heavy Lightweight ' +
  'Slim Ergonomic Waterproof Rugged Smart Digital Analog Electric Magnetic Insulated Padded ' +
  'Quilted Striped Matte Glossy Polished Brushed Recycled Organic Handmade Adjustable Cordless'
).split(' ');

export const NOUNS: readonly string[] = (
  'Mouse Keyboard Monitor Laptop Tablet Phone Charger Cable Adapter Speaker Headset Microphone ' +
  'Camera Tripod Lamp Desk Chair Shelf Cabinet Drawer Table Stool Bench Sofa Cushion Pillow ' +
  'Blanket Towel Rug Curtain Mirror Clock Vase Basket Bucket Kettle Toaster Blender Mixer Grinder ' +
  'Skillet Saucepan Wok Spatula Ladle Whisk Colander Grater Peeler Knife Fork Spoon Plate Bowl Mug ' +
  'Cup Tumbler Bottle Jar Pitcher Teapot Thermos Lunchbox Backpack Suitcase Wallet Purse Belt ' +
  'Scarf Glove Hat Beanie Jacket Sweater Hoodie Shirt Blouse Trousers Shorts Skirt Dress Sock Boot ' +
  'Sandal Sneaker Slipper Umbrella Raincoat Tent Lantern Flashlight Compass Binoculars Kayak ' +
  'Paddle Helmet Bicycle Scooter Skateboard Football Racket Dumbbell Treadmill Stopwatch Watch ' +
  'Bracelet Necklace Earring Brooch Pendant Notebook Pencil Marker Eraser Stapler Folder Binder ' +
  'Envelope Calendar Planner Printer Scanner Router Modem Drone Projector Screen Remote Battery ' +
  'Doorbell Thermostat Heater Fan Humidifier Purifier Vacuum Mop Broom Dustpan Sponge Hammer ' +
  'Wrench Screwdriver Pliers Drill Saw Chisel Ruler Toolbox Ladder Hose Sprinkler Shovel Rake ' +
  'Trowel Planter Birdhouse Feeder Leash Kennel Aquarium Guitar Violin Drum Flute Harmonica Easel ' +
  'Canvas Frame Puzzle Chessboard Kite Yoyo Teddy Doll Cradle Stroller Bib Apron Oven'
).split(' ');

export const COLOURS: readonly string[] = 'Black White Red Blue Green Grey Navy Olive Café Crème Écru Rosé'.split(' ');

/** An integer hash of i (deterministic; spreads consecutive numbers over the vocabulary). */
const hash = (i: number, seed: number) => {
  let h = Math.imul(i ^ seed, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  return (h ^ (h >>> 13)) >>> 0;
};

/** The SKU code of a word: its first `n` letters in capitals. */
export const code = (word: string, n: number) => word.slice(0, n).toUpperCase();

export type CatalogProduct = { sku: string; name: string; description: string; noun: string; adjective: string };

/** Product number i (1-based) of the catalog. */
export function catalogProduct(i: number): CatalogProduct {
  const noun = NOUNS[hash(i, 1) % NOUNS.length]!;
  const adjective = ADJECTIVES[hash(i, 2) % ADJECTIVES.length]!;
  const finish = ADJECTIVES[hash(i, 3) % ADJECTIVES.length]!;
  const colour = COLOURS[hash(i, 4) % COLOURS.length]!;
  return {
    sku: `${code(noun, 3)}-${code(adjective, 2)}-${String(i).padStart(7, '0')}`,
    name: `${adjective} ${noun} M${i}`,
    description: `${colour} ${finish.toLowerCase()} finish, item ${i}`,
    noun,
    adjective,
  };
}

/** A products row as COPY text: products (sku, name, description, price, quantity, category_id). */
export function catalogCopyLine(i: number, categoryId: number): string {
  const p = catalogProduct(i);
  const price = ((i * 7919) % 100000) / 100;
  return `${p.sku}\t${p.name}\t${p.description}\t${price}\t${(i * 31) % 500}\t${categoryId}\n`;
}

/**
 * Loads products 1..count with COPY, and their initial movements, in one transaction (the
 * ledger is checked at commit); product i goes to categoryIds[i % categoryIds.length].
 */
export async function copyCatalog(sql: postgres.Sql, count: number, categoryIds: number[]): Promise<void> {
  await sql.begin(async (sql) => {
    const writable = await sql`COPY products (sku, name, description, price, quantity, category_id) FROM STDIN`.writable();
    const batch: string[] = [];
    const write = (chunk: string) =>
      new Promise<void>((resolve, reject) => writable.write(chunk, (e) => (e ? reject(e) : resolve())));
    for (let i = 1; i <= count; i++) {
      batch.push(catalogCopyLine(i, categoryIds[i % categoryIds.length]!));
      if (batch.length === 10_000) await write(batch.splice(0).join(''));
    }
    if (batch.length) await write(batch.join(''));
    await new Promise<void>((resolve, reject) => writable.end((e?: Error | null) => (e ? reject(e) : resolve())));
    await sql`INSERT INTO stock_movements (product_id, delta, reason, quantity_after)
              SELECT id, quantity, 'initial', quantity FROM products WHERE quantity > 0 ORDER BY id`;
  });
}

/**
 * The benchmark's catalog in an empty, migrated database: `categories` categories named
 * "Category 01"… and products 1..count spread over them (copyCatalog).
 */
export async function loadBenchCatalog(sql: postgres.Sql, count: number, categories: number): Promise<void> {
  await sql`INSERT INTO categories (name, description)
            SELECT 'Category ' || lpad(i::text, 2, '0'), 'Benchmark category ' || i FROM generate_series(1, ${categories}) i`;
  const ids = await sql<{ id: number }[]>`SELECT id FROM categories ORDER BY id`;
  await copyCatalog(
    sql,
    count,
    ids.map((c) => c.id),
  );
}
