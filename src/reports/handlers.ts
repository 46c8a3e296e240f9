import type { RouteHandler } from '@hono/zod-openapi';
import type { Sql } from '../db.ts';
import type { AppEnv } from '../http/context.ts';
import { inventoryTotals, lowStock, type CategoryTotals, type LowStockRow } from './queries.ts';
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

/**
 * The totals and, when asked, the low-stock list, read from one snapshot: with
 * both, a REPEATABLE READ read-only transaction, so a write committed between
 * the two queries cannot make the list disagree with the totals. One query
 * alone is its own snapshot and needs no transaction.
 */
async function readReport(sql: Sql, below: number | undefined): Promise<[CategoryTotals[], LowStockRow[] | undefined]> {
  if (below === undefined) return [await inventoryTotals(sql), undefined];
  const both = async (tx: Sql) => [await inventoryTotals(tx), await lowStock(tx, below)] as [CategoryTotals[], LowStockRow[]];
  return 'begin' in sql
    ? (sql.begin('isolation level repeatable read read only', both) as Promise<[CategoryTotals[], LowStockRow[]]>)
    : both(sql);
}

export const inventoryReport: RouteHandler<typeof inventoryReportRoute, AppEnv> = async (c) => {
  const { low_stock_below: below } = c.req.valid('query');
  const [rows, low] = await readReport(c.var.sql, below);
  const categories = rows.filter((r) => r.category !== null).map((r) => ({ ...r, category: r.category! }));
  const { category: _, ...total } = rows.find((r) => r.category === null)!;
  return c.json({ categories, total, ...(low ? { low_stock: byCategory(low) } : {}) }, 200);
};
