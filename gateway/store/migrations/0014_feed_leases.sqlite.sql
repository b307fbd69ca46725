-- creditgw schema v14 (SQLite): one reader per change feed across replicas.
-- feed_leases: the replica that holds a feed's lease is the only one reading and ingesting it
-- (gateway/sync/poller.py; docs/adr/0030-one-reader-per-feed.md). `generation` grows at every
-- take-over: each unit of a page checks, in its own transaction, that its reader still holds the
-- generation it read the page under, so a reader that lost its lease commits nothing more.
CREATE TABLE feed_leases (
    system TEXT NOT NULL,
    feed TEXT NOT NULL,
    owner TEXT NOT NULL,
    generation INTEGER NOT NULL,
    lease_until TEXT NOT NULL,
    PRIMARY KEY (system, feed)
);
