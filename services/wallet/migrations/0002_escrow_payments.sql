-- Commerce orders through escrow (docs/commerce.md): a buyer pays by card
-- straight into an escrow, refunds may be partial, and a release may split
-- the payout between the seller, the platform's referral fee and an
-- affiliate's commission.
ALTER TABLE escrows
    -- 0: held from the payer's cents; otherwise the loop.wallet.v1.PaymentProvider that was charged.
    ADD COLUMN funded_by       SMALLINT NOT NULL DEFAULT 0,
    -- Returned so far; amount_cents - refunded_cents is what is still held.
    ADD COLUMN refunded_cents  BIGINT   NOT NULL DEFAULT 0,
    ADD COLUMN affiliate_id    UUID,
    ADD COLUMN affiliate_cents BIGINT   NOT NULL DEFAULT 0,
    ADD CONSTRAINT escrow_refunds_within_amount CHECK (refunded_cents >= 0 AND refunded_cents <= amount_cents),
    ADD CONSTRAINT escrow_parts_within_amount
        CHECK (affiliate_cents >= 0 AND platform_fee_cents + affiliate_cents + payee_cents + refunded_cents <= amount_cents);
