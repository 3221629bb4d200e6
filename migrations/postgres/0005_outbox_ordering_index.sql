-- Claiming an effect checks that no older effect with the same ordering key
-- is still queued; without this index that check scans the queue for every
-- candidate (quadratic in a backlog of tier changes).
CREATE INDEX outbox_queued_by_ordering_key ON outbox (shop_id, ordering_key, id) WHERE status = 'queued';
