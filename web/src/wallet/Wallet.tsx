import { useEffect, useState } from "react";

import { api, call, type ApiError, type Schemas, type User } from "../api/client";
import { lang, plural, t } from "../i18n";
import type { MessageKey } from "../i18n/messages";
import { devStore, testReceipt } from "./testStore";

type Balance = Schemas["WalletBalanceDto"];
type Package = Schemas["CoinPackageDto"];
type Transaction = Schemas["TransactionDto"];

export const money = (cents: number) =>
  new Intl.NumberFormat(lang, { style: "currency", currency: "USD" }).format(cents / 100);

/** The caller's balances; `null` while loading, `"error"` when the call failed. */
export function useBalance(): [Balance | null | "error", () => Promise<void>] {
  const [balance, setBalance] = useState<Balance | null | "error">(null);
  const load = async () => {
    const r = await call(() => api.GET("/v1/wallet/balance"));
    setBalance(r.ok ? r.data : "error");
  };
  useEffect(() => {
    void load();
  }, []);
  return [balance, load];
}

const KINDS: Record<string, MessageKey> = {
  coin_purchase: "txCoinPurchase",
  gift: "txGift",
  payout_request: "txPayout",
  top_up: "txTopUp",
};

/** What a transaction did to the caller's own accounts, per asset. */
function mine(tx: Transaction, me: string): { asset: string; amount: number }[] {
  const sums = new Map<string, number>();
  for (const e of tx.entries) {
    if (e.account === `user:${me}`) sums.set(e.asset, (sums.get(e.asset) ?? 0) + e.amount);
  }
  return [...sums].filter(([, n]) => n !== 0).map(([asset, amount]) => ({ asset, amount }));
}

function assetText(asset: string, amount: number): string {
  const sign = amount > 0 ? "+" : "−";
  const n = Math.abs(amount);
  if (asset === "cents") return `${sign}${money(n)}`;
  return `${sign}${asset === "diamonds" ? plural(n, "diamondsOne", "diamondsCount") : plural(n, "coinsOne", "coinsCount")}`;
}

/** Coins: balances, buying a package, and the history of transactions. */
export function Wallet({ me }: { me: User }) {
  const [balance, reloadBalance] = useBalance();
  const [packages, setPackages] = useState<Package[] | null | "error">(null);
  const [buying, setBuying] = useState<{ pkg: Package; key: string; receiptId: string } | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [done, setDone] = useState("");
  const [history, setHistory] = useState<Transaction[] | null | "error">(null);
  const [nextPage, setNextPage] = useState<string | undefined>(undefined);

  const loadPackages = async () => {
    const r = await call(() => api.GET("/v1/wallet/coin-packages"));
    setPackages(r.ok ? r.data.items : "error");
  };
  const loadHistory = async (pageToken?: string) => {
    const r = await call(() => api.GET("/v1/wallet/transactions", { params: { query: { page_size: 20, page_token: pageToken } } }));
    if (!r.ok) return setHistory("error");
    setHistory((old) => (pageToken && Array.isArray(old) ? [...old, ...r.data.items] : r.data.items));
    setNextPage(r.data.next_page_token ?? undefined);
  };
  useEffect(() => {
    document.title = `${t("wallet")} · Loop`;
    void loadPackages();
    void loadHistory();
  }, []);

  /** Buys `attempt.pkg`; a retry keeps the same idempotency key and receipt, so it never credits twice. */
  const buy = async (attempt: { pkg: Package; key: string; receiptId: string }) => {
    setBuying(attempt);
    setError(null);
    setDone("");
    const { pkg } = attempt;
    let receipt;
    try {
      receipt = await testReceipt(pkg.store_product_id, pkg.price_cents, attempt.receiptId);
    } catch {
      setBuying(null);
      return setError({ code: "store", message: t("storeUnavailable"), status: 0 });
    }
    const r = await call(() =>
      api.POST("/v1/wallet/purchases", {
        params: { header: { "Idempotency-Key": attempt.key } },
        body: { package_id: pkg.package_id, receipt },
      }),
    );
    if (!r.ok) {
      setError(r.error);
      // A network failure or overload may be retried as the same purchase.
      if (r.error.status !== 0 && r.error.status < 500) setBuying(null);
      return;
    }
    setBuying(null);
    setDone(t("bought", { coins: pkg.coins, balance: r.data.coins_balance }));
    void reloadBalance();
    void loadHistory();
  };

  return (
    <main className="page wallet">
      <h1>{t("wallet")}</h1>
      <section aria-labelledby="balance-title">
        <h2 id="balance-title">{t("balance")}</h2>
        {balance === null && <p role="status">{t("loading")}</p>}
        {balance === "error" && (
          <p role="alert">
            {t("errorGeneric")}{" "}
            <button type="button" className="link" onClick={() => void reloadBalance()}>
              {t("retry")}
            </button>
          </p>
        )}
        {balance && balance !== "error" && (
          <dl className="balances">
            <div>
              <dt>{t("coins")}</dt>
              <dd data-testid="coins">{balance.coins.available}</dd>
            </div>
            <div>
              <dt>{t("diamonds")}</dt>
              <dd data-testid="diamonds">{balance.diamonds.available}</dd>
            </div>
            {balance.cents.available + balance.cents.held > 0 && (
              <div>
                <dt>{t("cash")}</dt>
                <dd>{money(balance.cents.available)}</dd>
              </div>
            )}
          </dl>
        )}
      </section>
      <section aria-labelledby="buy-title">
        <h2 id="buy-title">{t("buyCoins")}</h2>
        <p className="muted">{t(devStore ? "testStoreNote" : "devStoreOff")}</p>
        {packages === null && <p role="status">{t("loading")}</p>}
        {packages === "error" && (
          <p role="alert">
            {t("errorGeneric")}{" "}
            <button type="button" className="link" onClick={() => void loadPackages()}>
              {t("retry")}
            </button>
          </p>
        )}
        {Array.isArray(packages) && (
          <ul className="packages">
            {packages.map((p) => (
              <li key={p.package_id}>
                <button
                  type="button"
                  className="package"
                  disabled={buying !== null}
                  aria-label={t("buyPackage", { coins: p.coins, price: money(p.price_cents) })}
                  onClick={() => void buy({ pkg: p, key: crypto.randomUUID(), receiptId: crypto.randomUUID() })}
                >
                  <strong>{plural(p.coins, "coinsOne", "coinsCount")}</strong>
                  <span>{money(p.price_cents)}</span>
                </button>
              </li>
            ))}
          </ul>
        )}
        {buying && !error && <p role="status">{t("submitting")}</p>}
        {error && (
          <p className="form-error" role="alert">
            {error.message || (error.code === "network" ? t("errorNetwork") : t("errorGeneric"))}{" "}
            {buying && (
              <button type="button" className="link" onClick={() => void buy(buying)}>
                {t("retry")}
              </button>
            )}
          </p>
        )}
        {done && <p role="status">{done}</p>}
      </section>
      <section aria-labelledby="history-title">
        <h2 id="history-title">{t("history")}</h2>
        {history === null && <p role="status">{t("loading")}</p>}
        {history === "error" && (
          <p role="alert">
            {t("errorGeneric")}{" "}
            <button type="button" className="link" onClick={() => void loadHistory()}>
              {t("retry")}
            </button>
          </p>
        )}
        {Array.isArray(history) && history.length === 0 && <p className="muted">{t("noTransactions")}</p>}
        {Array.isArray(history) && history.length > 0 && (
          <ul className="history" data-testid="history">
            {history.map((tx) => (
              <li key={tx.transaction_id} data-kind={tx.kind}>
                <span>{KINDS[tx.kind] ? t(KINDS[tx.kind]!) : tx.kind.replace(/_/g, " ")}</span>
                <span className="muted">{tx.created_at ? new Date(tx.created_at).toLocaleString(lang) : ""}</span>
                <span className="amounts">
                  {mine(tx, me.user_id)
                    .map((m) => assetText(m.asset, m.amount))
                    .join(", ")}
                </span>
              </li>
            ))}
          </ul>
        )}
        {nextPage && (
          <button type="button" className="secondary" onClick={() => void loadHistory(nextPage)}>
            {t("loadMore")}
          </button>
        )}
      </section>
    </main>
  );
}
