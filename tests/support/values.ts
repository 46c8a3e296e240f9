let counter = 0;

/** A number no other caller has had in this run. */
export const nextNumber = () => ++counter;

/** A name no other test has used in this run: `${prefix} ${n}`. */
export const unique = (prefix: string) => `${prefix} ${nextNumber()}`;

/** A response's JSON body; the tests check its shape. */
export const json = (res: Response): Promise<any> => res.json();

/** A product as the API shows it, for tests that check documents and validators without a database. */
export const SAMPLE_PRODUCT = {
  id: 1,
  sku: 'A-1',
  name: 'A',
  description: null,
  price: 1.5,
  quantity: 2,
  available: 2,
  category: 'C',
  created_at: '2026-11-22T10:15:30.123456Z',
  updated_at: '2026-11-22T10:15:30.123456Z',
};
