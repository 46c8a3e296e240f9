import { z } from '@hono/zod-openapi';

const Totals = {
  product_count: z.number().int().openapi({ example: 7 }),
  units: z.number().int().openapi({ example: 560 }),
  value: z.string().openapi({ description: 'Sum of price × quantity, an exact decimal string', example: '11234.50' }),
};

export const CategoryReportSchema = z
  .object({ category: z.string().openapi({ example: 'Electronics' }), ...Totals })
  .openapi('CategoryStockTotals');

export const LowStockProductSchema = z
  .object({
    id: z.number().int().openapi({ example: 42 }),
    sku: z.string().openapi({ example: 'SPRT-TENT-2P' }),
    name: z.string().openapi({ example: 'Two-Person Dome Tent' }),
    quantity: z.number().int().openapi({ example: 3 }),
  })
  .openapi('LowStockProduct');

export const LocationReportSchema = z
  .object({
    location_id: z.number().int().openapi({ example: 1 }),
    code: z.string().openapi({ example: 'DEFAULT' }),
    name: z.string().openapi({ example: 'Default location' }),
    units: z.number().int().openapi({ description: 'On hand', example: 560 }),
    reserved: z.number().int().openapi({ description: 'Held by open, unexpired reservations', example: 12 }),
    available: z.number().int().openapi({ example: 548 }),
    value: z.string().openapi({ description: 'Sum of price × on hand, an exact decimal string', example: '11234.50' }),
  })
  .openapi('LocationStockTotals');

export const ReorderLevelSchema = z
  .object({
    id: z.number().int().openapi({ description: 'The product', example: 42 }),
    sku: z.string().openapi({ example: 'SPRT-TENT-2P' }),
    name: z.string().openapi({ example: 'Two-Person Dome Tent' }),
    location_id: z.number().int().openapi({ example: 1 }),
    location_code: z.string().openapi({ example: 'DEFAULT' }),
    available: z.number().int().openapi({ example: 3 }),
    reorder_point: z.number().int().openapi({ example: 10 }),
  })
  .openapi('ReorderLevel');

export const InventoryReportSchema = z
  .object({
    categories: z.array(CategoryReportSchema),
    total: z.object(Totals).openapi('StockTotals'),
    locations: z.array(LocationReportSchema).openapi({ description: 'Stock per active location, over active products' }),
    below_reorder_point: z.array(ReorderLevelSchema).openapi({
      description: 'Levels whose available stock is below their reorder point, by location then product',
    }),
    low_stock: z
      .array(
        z
          .object({ category: z.string().openapi({ example: 'Sports & Outdoors' }), products: z.array(LowStockProductSchema) })
          .openapi('LowStockCategory'),
      )
      .optional()
      .openapi({ description: 'Present when low_stock_below is given' }),
  })
  .openapi('InventoryReport');

export const InventoryReportQuery = z.object({
  low_stock_below: z.coerce
    .number()
    .int()
    .min(1)
    .max(2147483647)
    .optional()
    .openapi({
      description:
        'List active products with fewer units than this, by category (e.g. 10); products with a reorder point ' +
        'at any location are listed by below_reorder_point instead',
    }),
});
