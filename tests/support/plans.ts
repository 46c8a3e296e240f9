/**
 * Reading the plans of the statements the service sends: a pool like the
 * service's whose postgres.js `debug` hook records each statement with its
 * parameters, and the planner's plans for it, both for those parameters
 * (custom) and for any (generic, which the service's pools always use:
 * plan_cache_mode=force_generic_plan, src/db.ts). EXPLAIN (GENERIC_PLAN)
 * needs PostgreSQL 16 or later.
 */
import { createPool, type Pool } from '../../src/db.ts';

/** A statement as postgres.js sent it: text with $n placeholders, parameter values and type oids (0: server infers). */
export type Captured = { query: string; parameters: unknown[]; types: number[] };

export type PlanNode = {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Scan Direction'?: string;
  'Index Cond'?: string;
  'Recheck Cond'?: string;
  Filter?: string;
  Plans?: PlanNode[];
};

/** A plan node and all those below it, depth first. */
export function nodesOf(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodesOf)];
}

/** A plan in one line, for assertion messages: each node with its relation and index. */
export function planShape(plan: PlanNode): string {
  return nodesOf(plan)
    .map(
      (n) =>
        `${n['Node Type']}${n['Relation Name'] ? ` on ${n['Relation Name']}` : ''}${n['Index Name'] ? ` using ${n['Index Name']}` : ''}`,
    )
    .join(' > ');
}

/** A pool configured like the service's, on `url`, that records what it sends. */
export function capturingPool(url: string) {
  let recording: Captured[] | undefined;
  const pool = createPool({ databaseUrl: url, poolMax: 1 }, 'inventory-explain');
  pool.options.debug = (_connection: number, query: string, parameters: unknown[], types: number[]) => {
    recording?.push({ query, parameters: [...parameters], types: [...types] });
  };
  return {
    pool,
    /** Runs `fn` in a transaction; returns its result and the one statement it sent whose text matches `pattern`. */
    async capture<T>(fn: (sql: Pool) => Promise<T>, pattern: RegExp): Promise<{ result: T; statement: Captured }> {
      recording = [];
      try {
        const result = (await pool.begin((tx) => fn(tx as unknown as Pool))) as T;
        const statements = recording.filter((s) => pattern.test(s.query));
        if (statements.length !== 1) throw new Error(`expected one statement matching ${pattern}, got ${statements.length}`);
        return { result, statement: statements[0]! };
      } finally {
        recording = undefined;
      }
    },
  };
}

/** The planner's own plan for the captured statement, planned with its captured parameters. */
export async function customPlan(sql: Pool, statement: Captured): Promise<PlanNode> {
  const parameters = statement.parameters.map((p, i) => (statement.types[i] ? sql.typed(p as never, statement.types[i]!) : p));
  const [row] = await sql.unsafe(`EXPLAIN (FORMAT JSON) ${statement.query}`, parameters as never[]);
  return (row!['QUERY PLAN'] as [{ Plan: PlanNode }])[0].Plan;
}

/** The plan for any parameters: the one the service's pools run (force_generic_plan). */
export async function genericPlan(sql: Pool, statement: Captured): Promise<PlanNode> {
  const [row] = await sql.unsafe(`EXPLAIN (GENERIC_PLAN, FORMAT JSON) ${statement.query}`);
  return (row!['QUERY PLAN'] as [{ Plan: PlanNode }])[0].Plan;
}
