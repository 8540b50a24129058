-- The page `customers(first: 50) { id name status createdAt contacts { id email phone }
-- contracts(first: 10) { nodes { id number endDate value } } }` as one statement: active
-- customers of one tenant, newest first (Dossier's default list order), each with its contacts
-- (primary first, then oldest first) and its first 10 contracts by end date, both as JSON.
-- Contact values stay the ciphertext stored. Run by pgbench with -D tenant=<tenant uuid>.
SELECT c.id, c.name, c.status, c.created_at,
       (SELECT coalesce(json_agg(json_build_object('id', ct.id, 'email', ct.email, 'phone', ct.phone)
                                 ORDER BY ct.is_primary DESC, ct.created_at, ct.id), '[]')
          FROM contacts ct
         WHERE ct.tenant_id = c.tenant_id AND ct.customer_id = c.id) AS contacts,
       (SELECT coalesce(json_agg(json_build_object('id', k.id, 'number', k.number,
                                                   'endDate', k.end_date, 'value', k.value_minor)
                                 ORDER BY k.end_date, k.id), '[]')
          FROM (SELECT k.id, k.number, k.end_date, k.value_minor
                  FROM contracts k
                 WHERE k.tenant_id = c.tenant_id AND k.customer_id = c.id
                 ORDER BY k.end_date, k.id
                 LIMIT 10) k) AS contracts
  FROM customers c
 WHERE c.tenant_id = :tenant AND c.archived_at IS NULL
 ORDER BY c.created_at DESC, c.id DESC
 LIMIT 50;
