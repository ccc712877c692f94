-- Shoppable content (docs/commerce.md): product anchors on videos and LIVE
-- shopping bags with one pinned product. Who made the video and who hosts
-- the room is content's to say: commerce asks it (GetVideo, GetLiveRoom)
-- when an anchor or a bag item is written, and stores the answer here so a
-- buyer's visit from the video or room can be checked without asking again.

-- At most orders.max_anchors_per_video (3) per video; position orders them.
CREATE TABLE video_products (
    video_id   UUID        NOT NULL,
    creator_id UUID        NOT NULL,
    product_id UUID        NOT NULL REFERENCES products,
    position   SMALLINT    NOT NULL,
    added_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (video_id, product_id)
);
CREATE INDEX video_products_product ON video_products (product_id, added_at DESC);

CREATE TABLE live_bag (
    room_id    UUID        NOT NULL,
    host_id    UUID        NOT NULL,
    product_id UUID        NOT NULL REFERENCES products,
    added_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (room_id, product_id)
);
CREATE INDEX live_bag_product ON live_bag (product_id, added_at DESC);

-- One pinned product per room at a time (a row per room; NULL: none).
CREATE TABLE live_pins (
    room_id    UUID        PRIMARY KEY,
    product_id UUID        REFERENCES products,
    pinned_at  TIMESTAMPTZ NOT NULL
);
