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

export const InventoryReportSchema = z
  .object({
    categories: z.array(CategoryReportSchema),
    total: z.object(Totals).openapi('StockTotals'),
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
    .openapi({ description: 'List active products with fewer units than this, by category (e.g. 10)' }),
});
