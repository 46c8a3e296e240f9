import type { RouteHandler } from '@hono/zod-openapi';
import type { AppEnv } from '../http/context.ts';
import { inventoryTotals, lowStock, type LowStockRow } from './queries.ts';
import type { inventoryReportRoute } from './routes.ts';

function byCategory(rows: LowStockRow[]) {
  const groups = new Map<string, Omit<LowStockRow, 'category'>[]>();
  for (const { category, ...product } of rows) {
    const list = groups.get(category) ?? [];
    list.push(product);
    groups.set(category, list);
  }
  return [...groups].map(([category, products]) => ({ category, products }));
}

export const inventoryReport: RouteHandler<typeof inventoryReportRoute, AppEnv> = async (c) => {
  const { low_stock_below: below } = c.req.valid('query');
  const rows = await inventoryTotals(c.var.sql);
  const low = below === undefined ? undefined : await lowStock(c.var.sql, below);
  const categories = rows.filter((r) => r.category !== null).map((r) => ({ ...r, category: r.category! }));
  const { category: _, ...total } = rows.find((r) => r.category === null)!;
  return c.json({ categories, total, ...(low ? { low_stock: byCategory(low) } : {}) }, 200);
};
