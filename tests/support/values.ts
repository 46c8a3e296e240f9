let counter = 0;

/** A number no other caller has had in this run. */
export const nextNumber = () => ++counter;

/** A name no other test has used in this run: `${prefix} ${n}`. */
export const unique = (prefix: string) => `${prefix} ${nextNumber()}`;

/** A response's JSON body; the tests check its shape. */
export const json = (res: Response): Promise<any> => res.json();
