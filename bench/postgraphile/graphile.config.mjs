// PostGraphile 5 over Dossier's tables: the GraphQL server a team would generate from the same
// schema instead of writing one. `postgraphile_start` in ../lib.sh sets the environment.
//
// It connects as the postgres superuser, so row-level security does not apply to it: the
// benchmark's request filters to one tenant with a condition instead. Contacts come back as the
// ciphertext Dossier stores, undecrypted; PostGraphile knows nothing of the keys.
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

const databaseUrl = process.env.BENCH_PG_DATABASE_URL;
const port = Number(process.env.BENCH_PG_PORT);
if (!databaseUrl || !Number.isInteger(port)) {
  throw new Error("BENCH_PG_DATABASE_URL and BENCH_PG_PORT must be set");
}

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  // By default only indexed columns may be filtered and sorted on. Dossier's page needs the
  // unindexed archived_at (active customers only) and the contact order (primary first, oldest
  // first); the customer part of the page still runs on the (tenant_id, created_at, id) index.
  disablePlugins: ["PgIndexBehaviorsPlugin"],
  pgServices: [
    makePgService({
      connectionString: databaseUrl,
      schemas: ["public"],
      // Ten connections, like the pool Dossier is given in the same run.
      poolConfig: { max: 10 },
    }),
  ],
  grafserv: {
    host: "127.0.0.1",
    port,
    graphiql: false,
    watch: false,
    websockets: false,
  },
  grafast: {
    explain: false,
  },
};

export default preset;
