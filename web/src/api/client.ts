// The typed API client: paths and shapes come from the gateway's OpenAPI
// document (src/api/openapi.json -> schema.d.ts, `npm run gen:api`), so a
// contract change breaks `tsc`, not the user.
//
// Authentication is the HttpOnly `loop_session` cookie the gateway sets at
// sign-up/login: no script here ever stores a token. Every request carries
// the X-Loop-Csrf header the gateway requires with the cookie.

import createClient from "openapi-fetch";

import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type FeedItem = Schemas["FeedItemDto"];
export type User = Schemas["UserDto"];

export const CSRF_HEADER = { "x-loop-csrf": "1" } as const;

export const api = createClient<paths>({
  baseUrl: "",
  credentials: "same-origin",
  headers: CSRF_HEADER,
});

export interface ApiError {
  code: string;
  message: string;
  field?: string;
  /** The business rule that refused it (`NOTHING_TO_RETRY`, ...), when the service named one. */
  reason?: string;
  status: number;
}

/** The gateway's `{"error": {...}}` as one value (network failures too). */
export function toApiError(error: unknown, response?: Response): ApiError {
  const body = (error as { error?: Partial<ApiError> } | undefined)?.error;
  return {
    code: body?.code ?? "network",
    message: body?.message ?? "",
    field: body?.field,
    reason: body?.reason ?? undefined,
    status: response?.status ?? 0,
  };
}

/** Runs a call, turning a thrown network error into an ApiError. */
export async function call<T>(
  run: () => Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<{ ok: true; data: T } | { ok: false; error: ApiError }> {
  try {
    const { data, error, response } = await run();
    if (error !== undefined || !response.ok) return { ok: false, error: toApiError(error, response) };
    return { ok: true, data: data as T };
  } catch {
    return { ok: false, error: { code: "network", message: "", status: 0 } };
  }
}
