/** What a stock movement is, apart from HTTP: the reasons it may give. */
import { INITIAL_MOVEMENT } from '../products/model.ts';

/** Reasons a client may give; `initial` is written only when a product is created. */
export const ADJUSTMENT_REASONS = ['received', 'sold', 'returned', 'damaged', 'count_correction'] as const;
/** The two movements of a transfer between locations (POST /transfers). */
export const TRANSFER_REASONS = ['transfer_out', 'transfer_in'] as const;
export const REASONS = [...ADJUSTMENT_REASONS, INITIAL_MOVEMENT, ...TRANSFER_REASONS] as const;
export type Reason = (typeof REASONS)[number];
