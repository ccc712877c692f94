// User ids to handles for the LIVE pages (the gifts leaderboard, auction
// bidders): each id is asked once (`GET /v1/users/{id}`) per page.
import { useEffect, useRef, useState } from "react";

import { api, call } from "../api/client";

/** Handles of user ids, fetched once each. */
export function useHandles(ids: string[]): Record<string, string> {
  const [handles, setHandles] = useState<Record<string, string>>({});
  const asked = useRef(new Set<string>());
  useEffect(() => {
    for (const id of ids) {
      if (asked.current.has(id)) continue;
      asked.current.add(id);
      void call(() => api.GET("/v1/users/{user_id}", { params: { path: { user_id: id } } })).then((r) => {
        if (r.ok) setHandles((h) => ({ ...h, [id]: r.data.handle }));
      });
    }
  }, [ids.join(",")]); // eslint-disable-line react-hooks/exhaustive-deps
  return handles;
}
