/**
 * The API's bodies as the generated client types declare them (clients/ts/schema.d.ts, made from
 * /openapi.json by `bun run client:generate`). Tests use these instead of declaring their own, so a
 * test that reads a member the document does not have fails the type check.
 */
import type { components } from '../../clients/ts/schema';

type Schemas = components['schemas'];

export type Product = Schemas['Product'];
export type Category = Schemas['Category'];
export type StockMovement = Schemas['StockMovement'];
export type InventoryReport = Schemas['InventoryReport'];
export type LowStockProduct = Schemas['LowStockProduct'];
