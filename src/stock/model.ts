/** What a stock movement is, apart from HTTP: the reasons it may give. */
import { INITIAL_MOVEMENT } from '../products/model.ts';

/** Reasons a client may give; `initial` is written only when a product is created. */
export const ADJUSTMENT_REASONS = ['received', 'sold', 'returned', 'damaged', 'count_correction'] as const;
export const REASONS = [...ADJUSTMENT_REASONS, INITIAL_MOVEMENT] as const;
export type Reason = (typeof REASONS)[number];
