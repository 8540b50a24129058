-- The plans of the statements Dossier runs for the customer page (as its log shows them), run
-- the way Dossier runs them: as the application role, row-level security on, for one tenant.
-- psql -v tenant=<tenant uuid> -f bench/peer/page_plans.sql
SET ROLE dossier_app;
SELECT set_config('app.tenant_id', :'tenant', false) \gset
-- The first page: keyset order over (created_at, id) of the tenant's active customers.
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY ON)
SELECT * FROM customers
 WHERE tenant_id = :'tenant' AND archived_at IS NULL
 ORDER BY created_at DESC, id DESC LIMIT 51;
-- A page deep in the book: the same plan from the cursor on, whatever the page's depth.
SELECT created_at AS after_at, id AS after_id FROM customers
 WHERE tenant_id = :'tenant' AND archived_at IS NULL
 ORDER BY created_at DESC, id DESC OFFSET (SELECT count(*) / 2 FROM customers) LIMIT 1 \gset
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY ON)
SELECT * FROM customers
 WHERE tenant_id = :'tenant' AND archived_at IS NULL
   AND (created_at, id) < (:'after_at', :'after_id')
 ORDER BY created_at DESC, id DESC LIMIT 51;
SELECT string_agg(quote_literal(id::text), ',') AS page_ids FROM (
  SELECT id FROM customers WHERE tenant_id = :'tenant' AND archived_at IS NULL
   ORDER BY created_at DESC, id DESC LIMIT 50) page \gset
-- The page's contacts, in one statement.
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY ON)
SELECT * FROM contacts
 WHERE tenant_id = :'tenant' AND customer_id IN (:page_ids)
 ORDER BY customer_id, is_primary DESC, created_at, id;
-- The page's first 10 contracts per customer, with their totals, in one statement.
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY ON)
SELECT * FROM (
  SELECT contracts.*, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY end_date, id) AS row_in_parent,
         COUNT(*) OVER (PARTITION BY customer_id) AS rows_of_parent
    FROM contracts WHERE tenant_id = :'tenant' AND customer_id IN (:page_ids)) ranked
 WHERE row_in_parent <= 11;
