-- A checkout in one statement (one round trip, autocommit).
--
-- On one hot SKU the checkout's throughput is bounded by how long its row
-- stays locked and by how many statements the database runs per order: a
-- checkout made of six statements (BEGIN ... COMMIT) held the row across a
-- client round trip and cost six backend wake-ups. As one function call in
-- autocommit, the row is locked from the stock UPDATE (the function's last
-- statement) to the commit that ends the same call.
--
-- Snapshots: the functions are VOLATILE PL/pgSQL, so under READ COMMITTED
-- each statement inside them takes a new snapshot; the unpaid count after
-- the buyer's advisory lock therefore sees every checkout of that buyer that
-- committed while it waited (the cap holds under concurrency).
--
-- Plans: each statement's generic plan is kept (force_generic_plan); with
-- array parameters the planner otherwise kept planning a custom plan for
-- every call (a sixth of the database's CPU in the checkout bench).
--
-- Errors raised here carry SQLSTATEs of class LC, mapped to the service's
-- named reasons in services/commerce/src/orders.rs:
--   LC001 too many unpaid orders (DETAIL: the buyer's unpaid count)
--   LC002 a line could not be taken (DETAIL: its 1-based position): sold
--         out, retired, repriced or edited since the caller read it; the
--         caller reads the SKU again to say which (or retries on an edit).

-- The buyer's turn: their checkout lock (one buyer's checkouts and flash
-- purchases run one at a time, so the unpaid cap holds; taken before any
-- SKU lock: no cycles), the cap, and attribution. Attribution: the creator
-- of the buyer's last recorded visit (RecordReferral) within the window to
-- one of `p_products` that earns that creator a commission (open to
-- affiliates, or an accepted invitation, then at the invited rate); never
-- the buyer or the seller. `o_rates` is each of `p_products`' rate for that
-- creator (0 where they did not refer it); every rate 0 and no creator when
-- nothing is attributed.
CREATE FUNCTION commerce_buyer_turn(
    p_buyer uuid, p_seller uuid, p_products uuid[], p_since timestamptz, p_now timestamptz,
    p_cap bigint, p_accepted smallint,
    OUT o_creator uuid, OUT o_source smallint, OUT o_source_id text, OUT o_rates int[])
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    unpaid bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_buyer::text, 16));
    -- Unpaid and paying (loop.commerce.v1.OrderStatus 1 and 2), written out
    -- so the partial index orders_unpaid (migration 0003) serves the count
    -- under the generic plan kept here (a parameter could not prove it).
    SELECT count(*) INTO unpaid FROM orders WHERE buyer_id = p_buyer AND status IN (1, 2);
    IF unpaid >= p_cap THEN
        RAISE EXCEPTION USING ERRCODE = 'LC001', MESSAGE = 'too many unpaid orders', DETAIL = unpaid::text;
    END IF;
    WITH v AS (
        SELECT r.creator_id, r.product_id, r.source, r.source_id, r.visited_at,
               COALESCE(i.rate_bps, p.affiliate_rate_bps) AS rate
        FROM referrals r JOIN products p ON p.product_id = r.product_id
        LEFT JOIN invitations i ON i.product_id = r.product_id AND i.creator_id = r.creator_id AND i.status = p_accepted
        WHERE r.buyer_id = p_buyer AND r.product_id = ANY (p_products)
          AND r.visited_at > p_since AND r.visited_at <= p_now
          AND r.creator_id <> p_buyer AND r.creator_id <> p_seller
          AND COALESCE(i.rate_bps, p.affiliate_rate_bps) > 0),
    last AS (SELECT creator_id, source, source_id FROM v ORDER BY visited_at DESC, creator_id LIMIT 1)
    SELECT last.creator_id, last.source, last.source_id,
           ARRAY(SELECT COALESCE((SELECT max(v.rate) FROM v WHERE v.creator_id = last.creator_id AND v.product_id = q.product_id), 0)
                 FROM unnest(p_products) WITH ORDINALITY AS q(product_id, n) ORDER BY q.n)
    INTO o_creator, o_source, o_source_id, o_rates
    FROM last;
    IF o_creator IS NULL THEN
        o_rates := array_fill(0, ARRAY[cardinality(p_products)]);
    END IF;
END $$;

-- Writes an order, its lines (arrays in line order) and its OrderPlaced
-- outbox row; returns the order as stored. A unique violation on
-- (buyer_id, place_key) is a concurrent duplicate of the key.
CREATE FUNCTION commerce_insert_order(
    p_order uuid, p_shop uuid, p_seller uuid, p_buyer uuid, p_status smallint, p_total bigint,
    p_key text, p_hash bytea, p_now timestamptz,
    p_products uuid[], p_versions int[], p_skus uuid[], p_titles text[], p_names text[],
    p_prices bigint[], p_quantities int[],
    p_event_id uuid, p_topic text, p_msg_key text, p_event_type text, p_payload bytea, p_headers jsonb,
    p_rates int[], p_affiliate uuid, p_source smallint, p_source_id text, p_flash_sale uuid)
RETURNS orders
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    placed orders;
BEGIN
    INSERT INTO orders (order_id, shop_id, seller_id, buyer_id, status, total_cents, place_key, place_hash,
                        created_at, affiliate_id, source, source_id, flash_sale_id)
    VALUES (p_order, p_shop, p_seller, p_buyer, p_status, p_total, p_key, p_hash,
            p_now, p_affiliate, p_source, p_source_id, p_flash_sale)
    RETURNING * INTO placed;
    INSERT INTO order_items (order_id, idx, product_id, product_version, sku_id, title, sku_name,
                             unit_price_cents, quantity, affiliate_rate_bps)
    SELECT p_order, t.n - 1, t.product_id, t.version, t.sku_id, t.title, t.sku_name, t.price, t.quantity, t.rate
    FROM unnest(p_products, p_versions, p_skus, p_titles, p_names, p_prices, p_quantities, p_rates)
         WITH ORDINALITY AS t(product_id, version, sku_id, title, sku_name, price, quantity, rate, n);
    INSERT INTO outbox (event_id, topic, msg_key, event_type, payload, headers)
    VALUES (p_event_id, p_topic, p_msg_key, p_event_type, p_payload, p_headers);
    RETURN placed;
END $$;

-- The whole checkout of lines the caller read (possibly from its cache):
-- the buyer's turn, the order, then each line's units, last, in the
-- caller's order (SKU order: no deadlocks). A line is taken only if its SKU
-- still has the units, is sold, has the price and name the caller read, and
-- its product is still approved at the version read; otherwise LC002 and
-- nothing of the checkout stays.
CREATE FUNCTION commerce_place_order(
    p_order uuid, p_shop uuid, p_seller uuid, p_buyer uuid, p_status smallint, p_total bigint,
    p_key text, p_hash bytea, p_now timestamptz,
    p_products uuid[], p_versions int[], p_skus uuid[], p_titles text[], p_names text[],
    p_prices bigint[], p_quantities int[],
    p_event_id uuid, p_topic text, p_msg_key text, p_event_type text, p_payload bytea, p_headers jsonb,
    p_since timestamptz, p_cap bigint, p_accepted smallint, p_approved smallint,
    OUT placed orders, OUT rates int[])
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    turn record;
BEGIN
    SELECT * INTO turn FROM commerce_buyer_turn(p_buyer, p_seller, p_products, p_since, p_now, p_cap, p_accepted);
    rates := turn.o_rates;
    placed := commerce_insert_order(
        p_order, p_shop, p_seller, p_buyer, p_status, p_total, p_key, p_hash, p_now,
        p_products, p_versions, p_skus, p_titles, p_names, p_prices, p_quantities,
        p_event_id, p_topic, p_msg_key, p_event_type, p_payload, p_headers,
        rates, turn.o_creator, COALESCE(turn.o_source, 0::smallint), COALESCE(turn.o_source_id, ''), NULL);
    FOR k IN 1 .. cardinality(p_skus) LOOP
        UPDATE skus s SET stock = s.stock - p_quantities[k]
        WHERE s.sku_id = p_skus[k] AND s.stock >= p_quantities[k] AND NOT s.retired
          AND s.price_cents = p_prices[k] AND s.name = p_names[k]
          AND EXISTS (SELECT 1 FROM products p
                      WHERE p.product_id = s.product_id AND p.version = p_versions[k] AND p.status = p_approved);
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'LC002', MESSAGE = 'a checkout line cannot be taken', DETAIL = k::text;
        END IF;
    END LOOP;
END $$;

-- A hot SKU's single-line checkouts in one call and one commit (the service
-- batches what waits for the same SKU: every checkout of a hot SKU flushes
-- its own commit while it holds the row otherwise). Each order is
-- commerce_place_order in its own subtransaction, so a refused one (LC001,
-- LC002, a repeated key) leaves the others; one answer row per order, in
-- order: the SQLSTATE and DETAIL of its refusal, or the order placed and
-- its rates. Every buyer's checkout lock is taken first, in lock-key order,
-- so the batch never holds the SKU's row while it waits for a buyer (no
-- cycle with other batches, checkouts or flash purchases, which take one
-- buyer's lock before any row).
CREATE FUNCTION commerce_place_orders(
    p_orders uuid[], p_buyers uuid[], p_totals bigint[], p_keys text[], p_hashes bytea[],
    p_quantities int[], p_event_ids uuid[], p_payloads bytea[], p_headers jsonb[],
    p_shop uuid, p_seller uuid, p_status smallint, p_now timestamptz,
    p_product uuid, p_version int, p_sku uuid, p_title text, p_name text, p_price bigint,
    p_topic text, p_event_type text,
    p_since timestamptz, p_cap bigint, p_accepted smallint, p_approved smallint)
RETURNS TABLE (o_code text, o_detail text, o_placed orders, o_rates int[])
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    r record;
BEGIN
    PERFORM pg_advisory_xact_lock(x.h)
    FROM (SELECT DISTINCT hashtextextended(b::text, 16) AS h FROM unnest(p_buyers) AS b ORDER BY 1) AS x;
    FOR k IN 1 .. cardinality(p_orders) LOOP
        BEGIN
            SELECT * INTO r FROM commerce_place_order(
                p_orders[k], p_shop, p_seller, p_buyers[k], p_status, p_totals[k], p_keys[k], p_hashes[k], p_now,
                ARRAY[p_product], ARRAY[p_version], ARRAY[p_sku], ARRAY[p_title], ARRAY[p_name],
                ARRAY[p_price], ARRAY[p_quantities[k]],
                p_event_ids[k], p_topic, p_orders[k]::text, p_event_type, p_payloads[k], p_headers[k],
                p_since, p_cap, p_accepted, p_approved);
            o_code := NULL;
            o_detail := NULL;
            o_placed := r.placed;
            o_rates := r.rates;
        EXCEPTION WHEN SQLSTATE 'LC001' OR SQLSTATE 'LC002' OR unique_violation THEN
            GET STACKED DIAGNOSTICS o_code = RETURNED_SQLSTATE, o_detail = PG_EXCEPTION_DETAIL;
            o_placed := NULL;
            o_rates := NULL;
        END;
        RETURN NEXT;
    END LOOP;
END $$;
