/**
 * What a location is, as the database holds it (db/migrations/20261130000009_stock_locations.sql:
 * locations_code_format, locations_name_length); the API's schemas read these.
 */

/** A location code: a letter or digit, then up to 31 letters, digits, dots, underscores or hyphens. */
export const LOCATION_CODE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;
export const LOCATION_CODE_MESSAGE =
  'must be 1 to 32 letters, digits, dots, underscores or hyphens, starting with a letter or digit';

/** The longest location name, in code points. */
export const MAX_LOCATION_NAME = 100;
