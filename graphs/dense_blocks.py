"""Several significant dense blocks per run: peel, refine, test, take the block out, repeat.

Pattern sought: a farm's accounts all following the same customers (a block far denser than
the degrees of its nodes predict), however much camouflage they add elsewhere.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse import csgraph

from graphs.peeling import (
    BiAdjacency,
    Block,
    BoolArray,
    FloatArray,
    IntArray,
    LiveGraph,
    farm_members,
    fraudar_column_weights,
    peel,
    refine,
    search_space,
    surprise_peel,
)
from graphs.significance import BlockStats, block_stats, is_significant
from graphs.spectral_seed import spectral_seed

logger = logging.getLogger(__name__)

_MAX_SUPPORT_EDGES = 1_000_000  # blocks with more edges skip the bridge test of _parts
_DENSE_SUPPORT = 0.2  # median 4-cycle support above which _parts looks for bridges
_DENSE_WALK_CELLS = 1 << 23  # blocks up to this many cells count 4-cycles with dense products
_SPARSE_BLOCK = 0.02  # edge density under which a block's support is first read off a sample
_SUPPORT_SAMPLE = 2_000  # edges of that sample
# Graphs (2-core edges) up to this size also get a spectral seed and a peel at the dense
# search's price. The spectral seed's 62 products of four vectors cost about 0.2 s a round
# on cl100k's 94k core edges and grow with the edges: at 10M follows that is several times
# the whole peel, for farms the peel finds there; a second peel there would add about a
# sixth to the run.
_SPECTRAL_MAX_EDGES = 1_000_000
# After a round that found nothing, the stub search also peels the 2-core less its columns
# of more edges than this (`_quiet_seeds`): a delivery to one customer at density 0.01 holds
# two or three follows, a celebrity's 3 h cell on heavy100k up to 55. Any cap of 6 to 16
# found the hijacked farm at 0.01 there (seeds 1 2 and 11 12); 8 had the most margin on both.
_QUIET_MAX_COL_DEGREE = 8
# Top nodes per side the spectral seed is taken among: a few times a sparse farm's 200,
# since the vector ranks some background nodes among the farm's.
_SPECTRAL_SEED_SIZE = 500
# Rounds of growth and refinement of a failed seed (`_Search.grown`); the one that reached a
# farm took three.
_MAX_GROWTH_ROUNDS = 8


@dataclass(frozen=True, slots=True)
class BlockParams:
    max_blocks: int  # blocks reported per graph at most
    max_rows: int  # size caps of one block
    max_cols: int
    min_rows: int
    min_cols: int
    alpha: float  # family-wise false-alarm rate of the tests of one graph
    max_misses: int = 1  # rounds without a significant block before giving up
    # After a miss, seed the next round by FRAUDAR peeling. Off: on the protocol bench it
    # spent the second round on the celebrity core and lost blocks a second surprise
    # peel finds (heavy100k, biased, 0.03-0.05).
    fraudar_fallback: bool = False
    # Look for sparse farms (the topology view): price the peel and refinement over the
    # test's search space, also seed from the peel's best set within the caps, and from the
    # leading singular pair (graphs/spectral_seed.py) on graphs of up to
    # _SPECTRAL_MAX_EDGES 2-core edges. Not in the timing view: a farm's bursts make it
    # dense there and the peel finds it; the cheaper price let camouflage columns into
    # dense blocks (cl30k, biased, 0.10: 11 false targets, F 1.00 -> 0.99), and with the
    # spectral seed (and an ARPACK solver) a clean cl100k run took 4.9 s instead of 1.9.
    sparse: bool = False
    # Test blocks by the tail with every degree fixed (`peeling.stub_surprise`) instead of
    # the Poisson one; refine a seed whose block fails it again by that tail at the test's
    # price, and after a miss also peel by it. For the timing view: a burst column holds
    # little but the farm's follows, and the Poisson tail let its few edge ends carry any
    # number of block edges. Camouflage doubles the farm accounts' degrees and so the
    # block's expectation, and at density 0.01 no camouflaged farm passed (cl30k, random:
    # the ideal block scored 633 nats against a price of 713; the fixed-degree tail, 828,
    # within 0.4 nats of the exact hypergeometric one). Not in the topology view: there the
    # fixed-degree null is a multigraph's, far from the plain graph at its hubs (expected
    # repeated pairs of the configuration model: 81 on cl30k, 29856 on heavy100k; 0.4 and
    # 134 in the timing view, whose columns are a target's follows in one 3 h cell).
    stub: bool = False
    # The test prices a block over the nodes of at least m edges, for a block whose nodes all
    # have m edges or more inside it, at each of these m (one more test each). A farm's
    # accounts with camouflage have degree 8 at density 0.02; on cl30k half the nodes of
    # degree two have fewer than three, and the union bound over them is what kept the
    # farm's 3-core (138 x 143) 161 nats short of the bar.
    inner_degrees: tuple[int, ...] = (2,)  # ascending


@dataclass(frozen=True, slots=True)
class FoundBlock:
    block: Block
    stats: BlockStats


def find_blocks(
    rows: IntArray,
    cols: IntArray,
    n_rows: int,
    n_cols: int,
    p: BlockParams,
    seed_cols: npt.NDArray[np.bool_] | None = None,
) -> list[FoundBlock]:
    """Significant blocks of the 0/1 matrix with these entries, strongest first.

    seed_cols: if given, only these columns' edges are peeled for seeds (a cheaper graph);
    refinement and the test still see every edge.
    """
    if len(rows) == 0:
        return []
    search = _Search.of(rows, cols, n_rows, n_cols, p)
    matrix, adjacency, null = search.matrix, search.adjacency, search.null
    select, n_tests = search.select, search.n_tests
    found: list[FoundBlock] = []
    misses = 0
    left = LiveGraph(
        adjacency,
        np.ones(n_rows, dtype=bool),
        np.ones(n_cols, dtype=bool) if seed_cols is None else seed_cols.copy(),
    )
    # Every peel starts by pruning to the 2-core; it is kept up to date instead.
    core = _two_core(left)
    # The test of a block reads the whole matrix, not what is left, so its answer stands
    # for the run. A seed past the caps that refinement cannot tighten is tested as it is,
    # and the sparse search's peel returns the same whole 2-core round after round (heavy100k,
    # 15100 x 4121: 12 s of 4-cycle counting each time, 3 times on a clean run).
    tested: dict[bytes, list[FoundBlock]] = {}
    quiet: list[tuple[Block, bool]] = []  # seeds a round leaves to the next (`_quiet_seeds`)
    for _ in range(p.max_blocks + p.max_misses):
        if left.edges == 0 or len(found) >= p.max_blocks or misses > p.max_misses:
            break
        seeds = _seeds(matrix, left, core, null, select, p, misses)
        best: list[FoundBlock] = []
        tried: list[Block] = []
        while seeds:
            seed, removable = seeds.pop(0)
            fits = len(seed.rows) <= p.max_rows and len(seed.cols) <= p.max_cols
            if removable and fits:
                tried.append(seed)
            for block in search.refinements(seed, p):
                if block is not seed:
                    tried.append(block)
                key = _digest(block)
                if key not in tested:
                    tested[key] = _significant_parts(matrix, null, block, p, n_tests)
                hits = tested[key]
                if sum(h.stats.margin for h in hits) > sum(h.stats.margin for h in best):
                    best = hits
                if hits:
                    break
            if not seeds and not best:
                # Last, and only if every other seed failed: where another seed passed, the
                # quiet peel's block had more margin but grew into a smaller group (cl100k,
                # hijacked, 0.01: 156 x 116 against 160 x 119).
                seeds, quiet = quiet, []
        quiet = []
        if p.stub and not p.sparse and not best and misses < p.max_misses:
            # Peeled before this round's seeds are taken out: a failed seed is often a few
            # nodes of a sparse farm (3 x 3 of 85 x 90), and without them the quiet peel
            # lost the farm too (heavy100k, hijacked, 0.01, seeds 11 12). Tried in the next
            # round, after its seeds, so that it never displaces them: in this round it found
            # 69 x 68 of a farm at 0.05 whose busy columns it had left out (cl30k, biased),
            # where the next round's peels found all of it.
            quiet = _quiet_seeds(adjacency, core, null)
        if p.sparse:
            # The test judged the block; its members are judged against the rest of the
            # graph (`farm_members`): a sparse farm's weakest accounts and the targets of
            # its camouflage are told apart there, not by the test's measure.
            best = [FoundBlock(search.members(f.block, p), f.stats) for f in best]
        found.extend(best)
        misses = 0 if best else misses + 1
        # Take out what was tried (never a seed larger than the caps: a stalled peel that
        # kept the whole graph would take the block out with it), so the next round looks
        # elsewhere. Not the seeds `_seeds` keeps (the peel's best within the caps, the
        # spectral seed): they can hold a farm that their refinement missed and a later
        # round finds (heavy100k, random camouflage, 0.03; the 1000 x 100 farm at 10M).
        out_r = np.zeros(n_rows, dtype=bool)
        out_c = np.zeros(n_cols, dtype=bool)
        for b in tried + [f.block for f in best]:
            out_r[b.rows] = True
            out_c[b.cols] = True
        _take_out(left, out_r, out_c)
        # The 2-core of what is left is the 2-core of the old core less the nodes taken out.
        core.prune(2, *_take_out(core, out_r, out_c))
    found.sort(key=lambda f: -f.stats.margin)
    return found[: p.max_blocks]


def refined_excess(
    rows: IntArray, cols: IntArray, n_rows: int, n_cols: int, p: BlockParams, seeds: list[Block]
) -> float:
    """How far the best block refinement reaches from these seeds clears the test's bar (nats).

    Each seed is refined and tested as `find_blocks` refines and tests a peel's seed; the
    value is the best connected part's margin less log(n_tests / alpha), so 0 or more is a
    block `find_blocks` would report had a peel led there. A diagnostic for planted farms:
    seeded with the farm itself, a value below 0 says that the test, not the search, keeps
    the farm unreported.
    """
    search = _Search.of(rows, cols, n_rows, n_cols, p)
    bar = math.log(max(search.n_tests, 1) / p.alpha)
    best = -math.inf
    for block in itertools.chain.from_iterable(search.refinements(s, p) for s in seeds):
        core = block
        for m in p.inner_degrees:  # ascending: each core lies inside the one before
            core = _inner_core(search.matrix, core, m)
            for part, stats in _part_stats(search.matrix, search.null, core, p, m):
                if _fits(part, p):
                    best = max(best, stats.margin - bar)
    return best


@dataclass(frozen=True, slots=True)
class _Search:
    """One graph's matrix, null and search settings, shared by every seed's refinement."""

    matrix: sp.csr_matrix
    adjacency: BiAdjacency
    null: _Null
    select: tuple[int, int]  # the space peels and refinement price a block over
    passes: list[tuple[tuple[int, int], bool]]  # (space, stub) of each refinement of a seed
    n_tests: int

    @classmethod
    def of(
        cls, rows: IntArray, cols: IntArray, n_rows: int, n_cols: int, p: BlockParams
    ) -> _Search:
        matrix = zero_one_csr(rows, cols, n_rows, n_cols)
        adjacency = BiAdjacency.from_csr(matrix)
        row_degree: FloatArray = np.diff(adjacency.row_ptr).astype(np.float64)
        col_degree: FloatArray = np.diff(adjacency.col_ptr).astype(np.float64)
        # Peel, refinement and test all price a block against the same search space (nodes
        # of degree two or more); a peel that priced every node with an edge judged a sparse
        # farm a net loss that the test would have passed, and never reached it.
        by_degree = {m: search_space(row_degree, col_degree, m) for m in {2, *p.inner_degrees}}
        null = _Null(row_degree, col_degree, float(matrix.nnz), by_degree)
        space = null.space
        # The price of the peel and refinement: the test's in the sparse search, else every
        # node with an edge (stricter: it keeps the timing view's dense blocks tight).
        select = space if p.sparse else search_space(row_degree, col_degree, 1)
        # Each seed is refined as before (the Poisson tail, at that price); if the test is
        # `stub`'s and that refinement fails it, again by the test's own statistic and price.
        passes = [(select, False)] + ([(space, True)] if p.stub and not p.sparse else [])
        # Each round tests every seed's refinements (three seeds, and two more in the sparse
        # search: the peel's best within the caps, and the peel at the dense search's price;
        # or three more with `stub`: the peels by its statistic, one of them without the
        # busiest columns); the union bound counts them.
        n_seeds = 3 + (2 if p.sparse or p.stub else 0) + (1 if p.stub and not p.sparse else 0)
        # The sparse search also tests each failed seed grown (`grown`): one more block each.
        per_seed = len(passes) + (1 if p.sparse else 0)
        n_tests = n_seeds * per_seed * (p.max_blocks + p.max_misses) * len(p.inner_degrees)
        return cls(matrix, adjacency, null, select, passes, n_tests)

    def refinements(self, seed: Block, p: BlockParams) -> Iterator[Block]:
        """The blocks a seed is tested as, in turn, until one passes: its refinement by each
        of `passes`, and in the sparse search that last block grown (`grown`)."""
        block = seed
        for space, stub in self.passes:
            block = self.refine(seed, space, stub, p)
            yield block
        if p.sparse and _fits(block, p):
            yield self.grown(block, p)

    def grown(self, block: Block, p: BlockParams) -> Block:
        """The block grown by `farm_members` and refined again, in turn, to a fixed point.

        Refinement takes the nodes with the most hits into the block, so it can only shrink a
        partial farm at low density: a farm account at 0.02 has about one follow among 43 of
        its customers. Growth admits the nodes the block's own rate explains, two hits or
        more, and refinement then trims them (cl200k, hijacked, 0.02, seeds 11 12: the
        peel's 56 x 43 of the farm failed the test; grown, 72 x 66, then 80 x 79 and 84 x 81,
        which passes by 20 nats).
        """
        seen = {_digest(block)}
        for _ in range(_MAX_GROWTH_ROUNDS):
            nxt = self.refine(self.members(block, p), self.select, False, p)
            key = _digest(nxt)
            if key in seen:
                break
            seen.add(key)
            block = nxt
        return block

    def members(self, block: Block, p: BlockParams) -> Block:
        """The nodes a farm at this block's rate explains better than the rest of the graph
        (`peeling.farm_members`), within the caps."""
        null = self.null
        return farm_members(
            self.adjacency,
            null.row_degree,
            null.col_degree,
            null.total,
            block,
            space=null.space,
            max_rows=p.max_rows,
            max_cols=p.max_cols,
        )

    def refine(self, seed: Block, space: tuple[int, int], stub: bool, p: BlockParams) -> Block:
        """The seed refined at this price and statistic; the seed itself if that is too small."""
        block, _ = refine(
            self.matrix,
            self.null.row_degree,
            self.null.col_degree,
            self.null.total,
            seed,
            max_rows=p.max_rows,
            max_cols=p.max_cols,
            min_size=min(p.min_rows, p.min_cols),
            adjacency=self.adjacency,
            space=space,
            # Its cheaper price lets a farm's camouflage targets in (heavy100k, random,
            # 0.10: 270 of them); the one-rate rule keeps them out.
            one_rate=p.sparse,
            stub=stub,
        )
        if len(block.rows) < p.min_rows or len(block.cols) < p.min_cols:
            return seed
        return block


def _digest(block: Block) -> bytes:
    """A key of the block's node sets, without copying them (seeds run to millions at 10M)."""
    h = hashlib.blake2b(digest_size=16)
    for nodes in (block.rows, block.cols):
        arr = np.ascontiguousarray(nodes, dtype=np.int64)
        h.update(len(arr).to_bytes(8, "little"))
        h.update(arr.data)
    return h.digest()


def _take_out(g: LiveGraph, out_r: BoolArray, out_c: BoolArray) -> tuple[IntArray, IntArray]:
    """Remove these nodes from g where still live; the live nodes whose degree fell."""
    return g.remove(np.flatnonzero(out_r & g.live_r), np.flatnonzero(out_c & g.live_c))


def zero_one_csr(rows: IntArray, cols: IntArray, n_rows: int, n_cols: int) -> sp.csr_matrix:
    """The 0/1 matrix with these entries (repeats count once): float32 data, int32 indices.

    Entries already in row-major order without repeats (as the lockstep views hand them
    over) are taken as they are; others go through a COO sort.
    """
    if n_rows < 2**31 and n_cols < 2**31 and len(rows) < 2**31:
        dr = np.diff(rows)
        ordered = bool((dr >= 0).all()) and bool(((dr > 0) | (np.diff(cols) > 0)).all())
        del dr
        if ordered:
            indptr = np.zeros(n_rows + 1, dtype=np.int32)
            np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
            indices = cols.astype(np.int32)
            data = np.ones(len(rows), dtype=np.float32)
            return sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_cols))
    matrix = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_rows, n_cols)
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def _seeds(
    matrix: sp.csr_matrix,
    left: LiveGraph,
    core: LiveGraph,
    null: _Null,
    select: tuple[int, int],
    p: BlockParams,
    misses: int,
) -> list[tuple[Block, bool]]:
    """Seeds of one round, each with whether it is taken out of the graph once tried: a
    surprise peel's best set, and if `p.sparse` its best within the caps and a spectral
    seed, and after a miss two more baselines.

    Against the full degrees, camouflage to rare targets (each followed by the farm alone)
    sinks the farm: those targets go in the first pass and the farm's accounts seem to have
    lost half their edges (heavy-headed background, random camouflage: F = 0 at every
    density). Against the degrees of the 2-core, those edges were never counted.
    """
    adjacency = left.adjacency
    row_degree, col_degree, total = null.row_degree, null.col_degree, null.total
    # The peel's first step, pruning `left` to its 2-core, is `core` already.
    # The peel's best within the caps and the spectral seed stay in the graph once tried:
    # the capped set is the densest farm plus pieces of others (4831 x 676 at 10M
    # follows), and taking it out lost the 1000 x 100 farm.
    best, *capped = surprise_peel(
        adjacency,
        row_degree,
        col_degree,
        total,
        start=core,
        space=select,
        max_rows=p.max_rows if p.sparse else None,
        max_cols=p.max_cols if p.sparse else None,
    )
    seeds = [best]
    if p.sparse and core.edges <= _SPECTRAL_MAX_EDGES:
        # A sparse farm of low-degree accounts (topology, density 0.02) is lost in the peel's
        # first passes; the leading singular pair finds it (graphs/spectral_seed.py).
        size = _SPECTRAL_SEED_SIZE
        capped.append(spectral_seed(matrix, core, min(size, p.max_rows), min(size, p.max_cols)))
        # And the peel priced over every node with an edge, as the dense search prices it.
        # Refinement is a local search: on heavy100k at 0.02 (no camouflage) the cheaper
        # price's seeds led it to 160 x 164 (margin 938), this one to 172 x 173 (964). The
        # test, with one price for all, keeps the better.
        seeds += surprise_peel(
            adjacency,
            row_degree,
            col_degree,
            total,
            start=core,
            space=search_space(row_degree, col_degree, 1),
        )
    if not misses:
        return _nonempty(seeds, capped)
    # Only after a miss: the first seed is right on every plain farm, and a second peel
    # doubles the cost of a round.
    core_degrees = None
    if 0 < core.edges < left.edges:
        core_degrees = (core.deg_r.astype(np.float64), core.deg_c.astype(np.float64))
        # Priced over the core's own nodes: the seed is judged by refinement and the test.
        seeds += surprise_peel(adjacency, *core_degrees, float(core.edges), start=core)
    if p.stub and not p.sparse:
        # And two peels by the test's statistic: at the test's price (the dense search's
        # stricter one judges a farm with camouflage at density 0.01 a net loss and peels
        # past it: cl30k, hijacked), and against the core's degrees, which the farm's
        # camouflage does not inflate (heavy100k, random: the Poisson peel against them
        # keeps the whole 12788 x 10782 core, this one ends on the 84 x 86 farm).
        seeds += surprise_peel(
            adjacency, row_degree, col_degree, total, start=core, space=null.space, stub=True
        )
        if core_degrees is not None:
            seeds += surprise_peel(
                adjacency, *core_degrees, float(core.edges), start=core, stub=True
            )
    if misses and p.fraudar_fallback:
        r = np.repeat(np.arange(adjacency.n_rows), np.diff(adjacency.row_ptr))
        c = adjacency.row_cols.astype(np.int64)
        on = left.live_r[r] & left.live_c[c]
        r, c = r[on], c[on]
        col_deg_int = col_degree.astype(np.int64)
        seeds.append(
            peel(r, c, fraudar_column_weights(col_deg_int)[c], adjacency.n_rows, adjacency.n_cols)
        )
    return _nonempty(seeds, capped)


def _quiet_seeds(adjacency: BiAdjacency, core: LiveGraph, null: _Null) -> list[tuple[Block, bool]]:
    """A seed of the stub search after a round that found nothing: the peel by the test's
    statistic and price of the 2-core less its columns of more than _QUIET_MAX_COL_DEGREE
    edges (none if no column is that busy, or nothing is left without them).

    A sparse farm of hijacked accounts sinks in a heavy-headed graph's timing view: each
    account's organic follows of celebrities land in the celebrities' busy cells (dozens of
    follows in 3 h), which tie background accounts to the 2-core as strongly as the farm's
    two or three follows tie its own. Every peel of the 2-core lost half the farm in its
    first three passes (heavy100k, hijacked, 0.01: the best set was 13 x 16 of the farm,
    short of the 85 x 90 that passes by 63 nats). Without the celebrity cells the peel by
    the test's statistic ends on 77 x 82 of it (margin 56).
    """
    busy = np.flatnonzero(core.live_c & (null.col_degree > _QUIET_MAX_COL_DEGREE))
    if len(busy) == 0:
        return []
    quiet = core.copy()
    quiet.prune(2, *quiet.remove(np.zeros(0, dtype=np.int64), busy))
    if quiet.edges == 0:
        return []
    peeled = surprise_peel(
        adjacency,
        null.row_degree,
        null.col_degree,
        null.total,
        start=quiet,
        space=null.space,
        stub=True,
    )
    return _nonempty(peeled, [])


def _nonempty(removable: list[Block], kept: list[Block]) -> list[tuple[Block, bool]]:
    out = [(s, True) for s in removable] + [(s, False) for s in kept]
    return [(s, keep) for s, keep in out if len(s.rows) and len(s.cols)]


def _two_core(left: LiveGraph) -> LiveGraph:
    """The live graph less its nodes of fewer than two live edges, repeated to a fixed point."""
    core = left.copy()
    core.prune(2)
    return core


@dataclass(frozen=True, slots=True)
class _Null:
    """Degrees and edge total of the background a block is tested against, and the
    (rows, cols) of each degree or more that a search picks from."""

    row_degree: FloatArray
    col_degree: FloatArray
    total: float
    # (rows, cols) of degree m or more, for m = 2 and each m of `inner_degrees`
    by_degree: dict[int, tuple[int, int]]

    @property
    def space(self) -> tuple[int, int]:
        """The nodes of degree two or more: what the search and the default test price over."""
        return self.by_degree[2]


def _significant_parts(
    matrix: sp.csr_matrix, null: _Null, block: Block, p: BlockParams, n_tests: int
) -> list[FoundBlock]:
    """The block's connected parts that pass the test on their own.

    Only nodes with m edges or more inside the block are kept, so every node of a tested
    block has degree m or more and the union bound runs over those nodes only: in the
    timing view, where most (target, cell) columns hold a single follow, a price several
    times smaller at m = 2. (Not over the 2-core: a core is selected by its edges among its
    own nodes, so it beats its degrees' expectation as a whole and the test would flag it on
    clean graphs; a filter by degree alone is what the Chung-Lu null conditions on anyway.)
    Each m of `inner_degrees` is a test of its own, in turn; the first with parts that pass
    is kept (the smallest m keeps the most of a farm: at m = 3, cl30k's farm at 0.02 without
    camouflage lost its accounts of two block follows, F 0.93 -> 0.90). Two farms with
    nothing in common are more surprising together than apart: each connected part is
    reported (and tested) alone.
    """
    core = block
    for m in p.inner_degrees:  # ascending: each core lies inside the one before
        core = _inner_core(matrix, core, m)
        if m > p.inner_degrees[0] and (len(core.rows) > p.max_rows or len(core.cols) > p.max_cols):
            # The stricter pricing is for sparse farms within the caps; a core past them is
            # the background's (heavy100k: 10906 x 2388, 1.7 s of 4-cycle counting).
            continue
        out: list[FoundBlock] = []
        for part, stats in _part_stats(matrix, null, core, p, m):
            ok = _fits(part, p) and is_significant(stats, alpha=p.alpha, n_tests=n_tests)
            logger.debug(
                "block %dx%d (inner degree %d) surprise %.0f price %.0f significant=%s",
                len(part.rows),
                len(part.cols),
                m,
                stats.surprise,
                stats.price,
                ok,
            )
            if ok:
                out.append(FoundBlock(part, stats))
        if out:
            return out
    return []


def _fits(block: Block, p: BlockParams) -> bool:
    """Within the size limits of a reported block."""
    return (
        p.min_rows <= len(block.rows) <= p.max_rows and p.min_cols <= len(block.cols) <= p.max_cols
    )


def _part_stats(
    matrix: sp.csr_matrix, null: _Null, core: Block, p: BlockParams, m: int
) -> list[tuple[Block, BlockStats]]:
    """The connected parts of a block's m-inner core (`_inner_core`), with their test
    statistics priced over the nodes of degree m or more."""
    return [
        (
            part,
            block_stats(
                matrix,
                null.row_degree,
                null.col_degree,
                null.total,
                part,
                null.by_degree[m],
                stub=p.stub,
            ),
        )
        # Bridges are looked for at the first m only: they join dense farms, which pass there.
        for part in _parts(matrix, core, bridges=m == p.inner_degrees[0])
    ]


def _inner_core(matrix: sp.csr_matrix, block: Block, m: int = 2) -> Block:
    """The block less its nodes of fewer than m edges inside it (the price assumes none)."""
    rows, cols = block.rows, block.cols
    while len(rows) and len(cols):
        sub = matrix[rows][:, cols]
        keep_r = np.asarray(sub.sum(axis=1)).ravel() >= m
        keep_c = np.asarray(sub.sum(axis=0)).ravel() >= m
        if keep_r.all() and keep_c.all():
            break
        rows, cols = rows[keep_r], cols[keep_c]
    return Block(rows, cols)


def _parts(matrix: sp.csr_matrix, block: Block, *, bridges: bool = True) -> list[Block]:
    """The connected components of the block's own edges, less the bridges of dense blocks.

    Two farms joined by a stray camouflage follow are one component; the follow is a bridge
    because few 4-cycles run through it. An edge's support is the number of 4-cycles through
    it over the most there could be, (d_r - 1)(d_c - 1) in the block. In a dense block
    (median support at least _DENSE_SUPPORT) edges under a tenth of the median are bridges.
    A sparse block is left whole: at density 0.03 most edges have no 4-cycle at all, and
    cutting them broke a planted block into pieces (F 0.96 -> 0.86 on the bench).
    """
    sub = matrix[block.rows][:, block.cols].tocsr()
    sub.data[:] = 1.0
    nr = len(block.rows)
    whole = _components(block, sub, nr)
    # A block past the caps is not reported anyway.
    if not bridges or not 0 < sub.nnz <= _MAX_SUPPORT_EDGES:
        return whole
    coo = sub.tocoo()
    dr = np.asarray(sub.sum(axis=1)).ravel()
    dc = np.asarray(sub.sum(axis=0)).ravel()
    if coo.nnz > _SUPPORT_SAMPLE and coo.nnz < _SPARSE_BLOCK * nr * sub.shape[1]:
        # A sparse block's median support is rarely near the bar, and counting all its
        # 4-cycles through hubs was most of a clean cl200k run (the whole graph, 19215 x
        # 19161: 8 s). Edges spread over the block tell its median well enough; one near
        # the bar is counted whole. (Not a dense block: the sample's sparse products
        # there cost more than all of the dense ones.)
        pick = np.linspace(0, coo.nnz - 1, _SUPPORT_SAMPLE).astype(np.int64)
        r, c = coo.row[pick], coo.col[pick]
        if np.median(_support(_walks_at(sub, r, c), dr[r], dc[c])) < _DENSE_SUPPORT / 2:
            return whole
    support = _support(_walks_of_three(sub, coo), dr[coo.row], dc[coo.col])
    median = float(np.median(support))
    if median < _DENSE_SUPPORT:
        return whole
    strong = support >= 0.1 * median
    cut = sp.csr_matrix(
        (np.ones(int(strong.sum())), (coo.row[strong], coo.col[strong])), shape=sub.shape
    )
    split = _components(block, cut, nr)
    return split if len(split) > len(whole) else whole


def _support(walks: FloatArray, a: FloatArray, b: FloatArray) -> FloatArray:
    """Edges' 4-cycles over the most their ends' degrees a and b in the block allow."""
    # Less the walks that go back over the edge itself (a + b - 1 of them).
    return (walks - a - b + 1) / np.maximum((a - 1) * (b - 1), 1.0)


def _walks_at(sub: sp.csr_matrix, rows: IntArray, cols: IntArray) -> FloatArray:
    """(sub sub^T sub)[r, c] for the given entries only: one row of sub sub^T each."""
    reach = sub[rows] @ sub.T
    ends = sub[:, cols].T.tocsr()
    return np.asarray(reach.multiply(ends).sum(axis=1), dtype=np.float64).ravel()


def _walks_of_three(sub: sp.csr_matrix, coo: sp.coo_matrix) -> FloatArray:
    """Per edge (r, c) of sub, the walks r-c'-r'-c: (sub sub^T sub)[r, c].

    A block that fits _DENSE_WALK_CELLS goes through dense BLAS products, over the Gram
    matrix of its smaller side: the sparse triple product of the 5000 x 300 farm of the
    10M-follow bench took 2 s, the dense one a tenth of that. Counts stay below 2^24 there
    (at most rows x cols), so float32 holds them exactly.
    """
    nr, nc = sub.shape
    if nr * nc > _DENSE_WALK_CELLS:
        paths = (sub @ (sub.T @ sub)).multiply(sub).tocsr()
        return np.asarray(paths[coo.row, coo.col], dtype=np.float64).ravel()
    dense = sub.toarray().astype(np.float32, copy=False)
    walks = (dense @ dense.T) @ dense if nr <= nc else dense @ (dense.T @ dense)
    return np.asarray(walks[coo.row, coo.col], dtype=np.float64)


def _components(block: Block, sub: sp.csr_matrix, nr: int) -> list[Block]:
    # One triangle of the square [[0, sub], [sub.T, 0]] is enough undirected, and shares
    # sub's arrays: the full square through sp.bmat took ~80 bytes an edge (640 MB at the
    # peak of the 10M-follow run, for a seed the size of the whole graph).
    nc = sub.shape[1]
    indptr = np.concatenate([sub.indptr, np.full(nc, sub.indptr[-1], dtype=sub.indptr.dtype)])
    tri = sp.csr_matrix((sub.data, sub.indices + nr, indptr), shape=(nr + nc, nr + nc))
    n_comp, label = csgraph.connected_components(tri, directed=False)
    if n_comp == 1:
        return [block]
    return [Block(block.rows[label[:nr] == k], block.cols[label[nr:] == k]) for k in range(n_comp)]
