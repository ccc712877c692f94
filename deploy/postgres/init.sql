-- One database per service that owns Postgres state (content, ads-auction,
-- wallet, creator-marketplace, commerce, media). The postgres image runs this through psql on
-- its first start (empty data volume), so \gexec is available: each CREATE
-- runs only when the database is missing, which also keeps the script safe to
-- run by hand against an existing server:
--   psql -U postgres -f deploy/postgres/init.sql
-- Schemas are not created here: each service runs its own migrations.

SELECT 'CREATE DATABASE content' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'content')\gexec
SELECT 'CREATE DATABASE ads' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'ads')\gexec
SELECT 'CREATE DATABASE wallet' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'wallet')\gexec
SELECT 'CREATE DATABASE marketplace' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'marketplace')\gexec
SELECT 'CREATE DATABASE commerce' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'commerce')\gexec
SELECT 'CREATE DATABASE media' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'media')\gexec
