/** What a reservation is, apart from HTTP. */

/** A reservation's states: open until released, fulfilled, or past its expiry. */
export const RESERVATION_STATES = ['open', 'released', 'fulfilled', 'expired'] as const;
export type ReservationState = (typeof RESERVATION_STATES)[number];

/** The longest a reservation may hold stock: 30 days. */
export const RESERVATION_MAX_SECONDS = 30 * 24 * 60 * 60;
