-- The latency sketch type of the rollup tables (cache_metrics_1min/1hour.latency_sketch);
-- its functions are cachemon.sketch_*.

-- A DDSketch-style latency sketch (relative accuracy 0.9%, see cachemon._sketch_ln_gamma()).
-- A positive latency x goes to key ceil(ln(x) / ln(gamma)), gamma = (1 + a) / (1 - a); a key k
-- stands for 2 * gamma^k / (gamma + 1), within a of every x of the key. Exact zeros have their own
-- counter (a logarithm has no key for them). keys are sorted and distinct once a sketch is
-- compacted (every stored sketch is), counts are positive and parallel to keys.
-- Why a composite of two arrays and not jsonb: unnest(keys, counts) is the cheapest way to merge
-- (a hash aggregate over plain integers), a minute of real latencies holds a few hundred keys,
-- i.e. a few KB, and arrays of integers compress and compare exactly (the tests compare sketches
-- with =).
CREATE TYPE cachemon.ddsketch AS (
    zero_count bigint,
    keys       integer[],
    counts     bigint[]
);
COMMENT ON TYPE cachemon.ddsketch IS
    'Mergeable latency sketch (DDSketch-style, relative accuracy 0.9%): zero_count, sorted keys, counts. Merge with cachemon.sketch_merge(), read with cachemon.sketch_quantile().';
