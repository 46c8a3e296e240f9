/**
 * Serves the bare stack (bench/reference-app.ts) on DATABASE_URL, PORT, DB_POOL_MAX.
 * Run by bench/run.ts, never by the service.
 */
import { createReferenceApp, referencePool } from './reference-app.ts';

const sql = referencePool(process.env.DATABASE_URL!, Number(process.env.DB_POOL_MAX ?? 10));
const app = createReferenceApp(sql);

const server = Bun.serve({ port: Number(process.env.PORT ?? 8000), hostname: '127.0.0.1', fetch: app.fetch });
process.on('SIGTERM', async () => {
  server.stop();
  await sql.end({ timeout: 1 });
  process.exit(0);
});
