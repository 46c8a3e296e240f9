import type { RouteHandler } from '@hono/zod-openapi';
import type { Sql } from '../db.ts';
import type { AppEnv } from '../http/context.ts';
import {
  belowReorderPoint,
  inventoryTotals,
  locationTotals,
  lowStock,
  type CategoryTotals,
  type LocationTotals,
  type LowStockRow,
  type ReorderRow,
} from './queries.ts';
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

type Report = [CategoryTotals[], LocationTotals[], ReorderRow[], LowStockRow[] | undefined];

/**
 * The totals per category and per location, the levels below their reorder
 * point and, when asked, the low-stock list, read from one snapshot: a
 * REPEATABLE READ read-only transaction, so a write committed between the
 * queries cannot make one part disagree with another.
 */
async function readReport(sql: Sql, below: number | undefined): Promise<Report> {
  const all = async (tx: Sql): Promise<Report> => [
    await inventoryTotals(tx),
    await locationTotals(tx),
    await belowReorderPoint(tx),
    below === undefined ? undefined : await lowStock(tx, below),
  ];
  return 'begin' in sql ? (sql.begin('isolation level repeatable read read only', all) as Promise<Report>) : all(sql);
}

export const inventoryReport: RouteHandler<typeof inventoryReportRoute, AppEnv> = async (c) => {
  const { low_stock_below: below } = c.req.valid('query');
  const [rows, locations, reorder, low] = await readReport(c.var.sql, below);
  const categories = rows.filter((r) => r.category !== null).map((r) => ({ ...r, category: r.category! }));
  const { category: _, ...total } = rows.find((r) => r.category === null)!;
  return c.json(
    { categories, total, locations, below_reorder_point: reorder, ...(low ? { low_stock: byCategory(low) } : {}) },
    200,
  );
};
