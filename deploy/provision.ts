/**
 * Prepares the service's database on a formation's primary, as `./run.sh` does
 * for one server (src/cli/stack.ts): the owner role and its database, the API's
 * least-privilege role, migrations (dbmate) and the seeds. Used by
 * deploy/local-cluster.sh once the formation has a primary:
 *   bun deploy/provision.ts ADMIN_URL FORMATION_URL
 * ADMIN_URL: a superuser URL listing every node (loopback, for this machine);
 * FORMATION_URL: what `pg_autoctl show uri --formation default` prints (the
 * addresses the API hosts use). Prints the API role's URL on FORMATION_URL's
 * hosts, with target_session_attrs=read-write.
 */
import { DEFAULT_DATABASE } from '../src/cli/database.ts';
import { forWrites, parseDatabaseUrl, formatDatabaseUrl, withDatabase } from '../src/cli/database-url.ts';
import { dbmate } from '../src/cli/dbmate.ts';
import { API_ROLE, protectMigrationHistory, provisionApiRole, provisionDatabase } from '../src/cli/provision.ts';
import { loadSeeds } from '../src/cli/seeds.ts';

const [adminUrl, formationUrl] = process.argv.slice(2);
if (!adminUrl || !formationUrl) {
  process.stderr.write('usage: bun deploy/provision.ts ADMIN_URL FORMATION_URL\n');
  process.exit(2);
}

const ownerUrl = await provisionDatabase(adminUrl);
await provisionApiRole(adminUrl);
// Quiet: the script's caller reads the API URL from stdout.
await dbmate(ownerUrl, ['--wait', '--wait-timeout', '30s', 'up'], true);
await protectMigrationHistory(ownerUrl);
await loadSeeds(ownerUrl);

// The formation's hosts, the API role and database, none of pg_autoctl's own options but the session target.
const formation = parseDatabaseUrl(formationUrl);
formation.params = new URLSearchParams();
const apiUrl = withDatabase(
  formatDatabaseUrl(formation),
  DEFAULT_DATABASE.database,
  API_ROLE.user,
  process.env.API_DB_PASSWORD ?? API_ROLE.password,
);
process.stdout.write(`${forWrites(apiUrl)}\n`);
process.exit(0);
