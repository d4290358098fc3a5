"""Read an OSM PBF in one pass into the layers a study needs, with pyrosm's columns.

`read_osm` used to make seven pyrosm reads, and each one decoded the whole file (the
street network twice, to build a table of nodes that was then thrown away). That ran at
1-2 MB/s. Here the file is decoded once. pyrosm's C decoder does the work: it inflates
and decodes the blobs without the GIL, on two threads. Every node's location is kept in
two int32 arrays (16 bytes per node with its id). Each batch of ways becomes every layer
at once, with numpy and shapely. The layers match pyrosm's readers as `read_osm` called
them: the same elements, tag columns, JSON `tags`, geometries, dtypes and row order
(`tests/test_ingest.py` checks this on the real extracts). Relations are few and, in a
sorted file, in its last blocks: they are read first, so their member ways are known when
the ways go by (libosmium reads them when they are elsewhere).

:func:`read_layers` returns the raw layers, which `read_osm` post-processes. :func:`available`
says whether the decoder is there. It is part of the pyrosm build this project pins; without
it, `read_osm` uses pyrosm's readers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from siting.errors import InputDataError

log = logging.getLogger(__name__)

RAILWAY_KINDS = ("rail", "light_rail", "subway", "tram")  # lines a trench must cross
ADDRESS_TAGS = ("addr:street", "addr:housenumber", "addr:postcode", "addr:city")
BATCH_BLOBS = 16  # blobs decoded together (~8,000 elements each)
BATCH_BYTES = 16 << 20
THREADS = 2
_MEMBER_TYPES = {"n": "node", "w": "way", "r": "relation"}


def available() -> bool:
    """True when pyrosm's nogil decoder (the pinned pyrosm build) can be imported."""
    try:
        _decoder()
    except ImportError:
        return False
    return True


def _decoder():
    from pyrosm.distance import segment_lengths
    from pyrosm.primitive_block_decoder import decode_batch_nogil
    from pyrosm.zlib_blob import inflate_blobs_nogil

    return decode_batch_nogil, inflate_blobs_nogil, segment_lengths


# --------------------------------------------------------------------------- layer specs


@dataclass
class LayerSpec:
    """One layer as `read_osm` asks pyrosm for it.

    `key` selects the elements: the value must be in `values` (`None`: any value). The
    streets use pyrosm's network filter "all" instead: any way with the key except those
    whose tags have a value `exclude` lists (`area=yes`, `highway=construction`, ...).
    `columns` are pyrosm's tag columns of that read; the element kinds are given by
    `nodes`, `ways` and `relations`.
    """

    name: str
    key: str
    values: tuple[str, ...] | None
    columns: list[str]
    nodes: bool = True
    ways: bool = True
    relations: bool = True
    network: bool = False
    exclude: dict[str, tuple[str, ...]] = field(default_factory=dict)


def layer_specs(streets: bool = True) -> list[LayerSpec]:
    """The layers of `read_osm`, with the tag columns pyrosm gives each read."""
    from pyrosm.config import Conf
    from pyrosm.config.osm_filters import get_osm_filter
    from pyrosm.utils import custom_read_columns, read_tag_columns

    def custom(key: str, values: Any, **kw: Any) -> list[str]:
        return read_tag_columns(custom_read_columns({key: values}, None, kw.get("cols"), None))

    specs = []
    if streets:
        specs.append(
            LayerSpec(
                "streets",
                "highway",
                None,
                read_tag_columns(Conf.tags.highway, None, None, ["highway"]),
                nodes=False,
                relations=False,
                network=True,
                exclude={k: tuple(v) for k, v in get_osm_filter("all").items()},
            )
        )
        specs.append(
            LayerSpec(
                "railways",
                "railway",
                RAILWAY_KINDS,
                custom("railway", list(RAILWAY_KINDS)),
                nodes=False,
                relations=False,
            )
        )
    specs += [
        LayerSpec(
            "buildings",
            "building",
            None,
            read_tag_columns(Conf.tags.building, None, None, ["building"]),
            nodes=False,
        ),
        LayerSpec("pipes", "man_made", ("pipeline",), custom("man_made", ["pipeline"]), False),
        LayerSpec("plants", "power", ("plant", "generator"), custom("power", ["plant"])),
        LayerSpec(
            "landuse",
            "landuse",
            ("industrial", "commercial"),
            read_tag_columns(Conf.tags.landuse, None, None, ["landuse"]),
        ),
        LayerSpec(
            "dc", "telecom", ("data_center", "data_centre"), custom("telecom", ["data_center"])
        ),
        LayerSpec(
            "addresses",
            "addr:housenumber",
            None,
            custom("addr:housenumber", True, cols=list(ADDRESS_TAGS)),
            ways=False,
            relations=False,
        ),
    ]
    return specs


def _multi_in(values: np.ndarray, allowed: tuple[str, ...]) -> np.ndarray:
    """pyrosm's MultiValue test: the value, or one of its `;`-separated parts, is allowed."""
    out = np.isin(values, allowed)
    has_semi = np.fromiter((";" in v for v in values), dtype=bool, count=len(values))
    semi = np.flatnonzero(~out & has_semi)
    for i in semi:
        out[i] = any(part.strip() in allowed for part in values[i].split(";"))
    return out


def _keep(spec: LayerSpec, tags: Tags) -> np.ndarray:
    """Which elements the layer keeps (pyrosm's keep filter, or the network's exclusions)."""
    value = tags.get(spec.key)
    has = np.asarray(pd.notna(value))
    if spec.network:
        excluded = np.zeros(len(value), dtype=bool)
        for key, values in spec.exclude.items():
            v = tags.get(key)
            m = np.flatnonzero(has & np.asarray(pd.notna(v)))
            excluded[m] |= _multi_in(v[m], values)
        return has & ~excluded
    if spec.values is None:
        return has
    return has & np.isin(value, spec.values)


# --------------------------------------------------------------------------- blobs


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def data_blobs(path: Path) -> np.ndarray:
    """(offset, size) of each `OSMData` blob's payload, from the blob headers (no inflating)."""
    out = []
    size = path.stat().st_size
    with path.open("rb") as fh:
        offset = 0
        while offset < size:
            raw = fh.read(4)
            if len(raw) < 4:
                break
            hlen = int.from_bytes(raw, "big")
            header = fh.read(hlen)
            pos, kind, datasize = 0, b"", 0
            while pos < len(header):
                key, pos = _read_varint(header, pos)
                if key & 7 == 0:
                    value, pos = _read_varint(header, pos)
                    if key >> 3 == 3:
                        datasize = value
                elif key & 7 == 2:
                    length, pos = _read_varint(header, pos)
                    if key >> 3 == 1:
                        kind = header[pos : pos + length]
                    pos += length
                else:
                    raise InputDataError(f"{path}: unreadable blob header at byte {offset:,}")
            start = offset + 4 + hlen
            if kind == b"OSMData":
                out.append((start, datasize))
            offset = start + datasize
            fh.seek(offset)
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def _batches(blobs: np.ndarray) -> list[np.ndarray]:
    out, start = [], 0
    while start < len(blobs):
        end = start + 1
        while (
            end < len(blobs)
            and end - start < BATCH_BLOBS
            and blobs[end, 0] + blobs[end, 1] - blobs[start, 0] <= BATCH_BYTES
        ):
            end += 1
        out.append(blobs[start:end])
        start = end
    return out


def _read_blob(fh, offset: int, size: int) -> bytes:
    """One blob's PrimitiveBlock bytes, for blobs the batch inflater does not take."""
    import lzma
    import zlib

    fh.seek(offset)
    data = fh.read(size)
    pos, fields = 0, {}
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        if key & 7 == 0:
            fields[key >> 3], pos = _read_varint(data, pos)
        elif key & 7 == 2:
            length, pos = _read_varint(data, pos)
            fields[key >> 3] = data[pos : pos + length]
            pos += length
        else:
            raise ValueError("unexpected wire type")
    if 1 in fields:
        return fields[1]
    if 3 in fields:
        return zlib.decompress(fields[3])
    if 4 in fields:
        return lzma.decompress(fields[4])
    raise ValueError("unsupported blob compression")


def _decode_batch(
    path: Path, batch: np.ndarray, keys: list[bytes], all_ways: bool, first_index: int = 0
) -> list:
    """Inflate and decode one batch of blobs (both without the GIL, on a worker thread).

    Returns (output, blob indices of the blocks the C decoder handed back) in file order:
    one output for the batch, or one per block when a block mixes relations with nodes or
    ways (the C decoder hands those back).
    """
    decode, inflate, _ = _decoder()
    first, last = int(batch[0, 0]), int(batch[-1, 0] + batch[-1, 1])
    with path.open("rb") as fh:
        fh.seek(first)
        raw = np.frombuffer(fh.read(last - first), dtype=np.uint8)
        if len(raw) != last - first:
            raise InputDataError(f"{path} is truncated (a data block ends past the file's end)")
        try:
            buffer, starts = inflate(
                raw,
                np.ascontiguousarray(batch[:, 0] - first),
                np.ascontiguousarray(batch[:, 1]),
            )
            if len(starts) - 1 != len(batch):
                raise ValueError("partial batch")
        except ValueError:
            blocks = [_read_blob(fh, int(o), int(s)) for o, s in batch]
            starts = np.zeros(len(blocks) + 1, dtype=np.int64)
            np.cumsum([len(b) for b in blocks], out=starts[1:])
            buffer = np.frombuffer(b"".join(blocks), dtype=np.uint8)
    out = decode(buffer, starts, keys=keys, features=True, all_ways=all_ways, way_strings=True)
    handed_back = np.flatnonzero(out["counts"][:, 0] != 0)
    back = {first_index + int(b) for b in handed_back}
    if len(handed_back) == 0:
        return [(out, back)]
    parts, mixed = [], False
    for b in range(len(starts) - 1):
        data = buffer[starts[b] : starts[b + 1]]
        if b not in handed_back:
            parts.append(("batch", b, data))
            continue
        block = _primitive_block(path, data)
        if block[2] is not None or block[3] is not None:
            mixed = True
        parts.append(("block", b, block))
    if not mixed:  # relation blocks only: read before the main pass
        return [(out, back)]
    outs = []
    for kind, _b, data in parts:
        if kind == "batch":
            one = np.array([0, len(data)], dtype=np.int64)
            outs.append(
                decode(
                    np.ascontiguousarray(data),
                    one,
                    keys=keys,
                    features=True,
                    all_ways=all_ways,
                    way_strings=True,
                )
            )
        else:
            outs.append(_block_output(data, keys, all_ways))
    return [(o, back if k == 0 else set()) for k, o in enumerate(outs)]


def _primitive_block(path: Path, data: np.ndarray) -> tuple:
    from pyrosm.primitive_block_decoder import decode_primitive_block

    try:
        return decode_primitive_block(np.ascontiguousarray(data))
    except Exception as exc:  # protobuf/varint errors of a damaged block
        raise InputDataError(
            f"{path} has a data block that cannot be decoded ({exc}); the file is corrupt. "
            "Download the extract again, or check it with `osmium fileinfo -e FILE`."
        ) from exc


def _block_output(block: tuple, keys: list[bytes], all_ways: bool) -> dict:
    """One block decoded by pyrosm's slower path, in the batch decoder's output format."""
    table, header, nodes, ways, _ = block
    key_ids = {i for i, s in enumerate(table) if s in set(keys)}
    i64 = np.int64
    out: dict[str, Any] = {}
    off = np.zeros(len(table) + 1, dtype=i64)
    np.cumsum([len(s) for s in table], out=off[1:])
    out["string_off"] = off
    out["string_data"] = np.frombuffer(b"".join(table), dtype=np.uint8)
    if nodes is not None and len(nodes["id"]):
        gran, lat0, lon0 = header["granularity"], header["lat_offset"], header["lon_offset"]
        ids = nodes["id"]
        out["node_id"] = ids
        out["node_lon"] = (nodes["lon"] * gran + lon0).astype(np.float64) / 1e9
        out["node_lat"] = (nodes["lat"] * gran + lat0).astype(np.float64) / 1e9
        kv = nodes["keys_vals"]
        # dense tags: k v k v ... 0 per node (an empty array: no node has tags)
        rows, fk, fv = [], [], []
        if len(kv):
            ends = np.flatnonzero(kv == 0)
            start = 0
            for n, end in enumerate(ends[: len(ids)]):
                pairs = kv[start:end]
                start = end + 1
                if len(pairs) and any(int(k) in key_ids for k in pairs[0::2]):
                    rows.append(n)
                    fk.append(pairs[0::2])
                    fv.append(pairs[1::2])
        n_f = len(rows)
        out["feature_row"] = np.array(rows, dtype=i64)
        foff = np.zeros(n_f + 1, dtype=i64)
        np.cumsum([len(k) for k in fk], out=foff[1:])
        out["feature_pairs_off"] = foff
        out["feature_keys"] = np.concatenate(fk).astype(i64) if fk else np.empty(0, i64)
        out["feature_vals"] = np.concatenate(fv).astype(i64) if fv else np.empty(0, i64)
        vis = nodes.get("visible")
        vis = vis if vis is not None and len(vis) == len(ids) else np.ones(len(ids), i64)
        meta = np.column_stack(
            [nodes["version"], nodes["timestamp"], nodes["changeset"], vis]
        ).astype(i64)
        out["feature_meta"] = meta[out["feature_row"]].reshape(-1, 4)
    else:
        out.update(
            node_id=np.empty(0, i64),
            node_lon=np.empty(0),
            node_lat=np.empty(0),
            feature_row=np.empty(0, i64),
            feature_pairs_off=np.zeros(1, i64),
            feature_keys=np.empty(0, i64),
            feature_vals=np.empty(0, i64),
            feature_meta=np.empty((0, 4), i64),
        )
    n_w = 0 if ways is None else len(ways["id"])
    if n_w:
        toff, roff = ways["tags_off"], ways["refs_off"]
        if len(toff) == n_w:  # offsets without the closing entry
            toff = np.r_[toff, len(ways["keys"])]
            roff = np.r_[roff, len(ways["refs"])]
        wanted = np.array(
            [
                any(int(k) in key_ids for k in ways["keys"][toff[w] : toff[w + 1]])
                for w in range(n_w)
            ],
            dtype=bool,
        )
        rows = np.flatnonzero(wanted)
        out["way_id"] = ways["id"][rows]
        out["way_refs_off"], out["way_refs"] = _take(roff, ways["refs"], rows)
        out["way_tags_off"], out["way_keys"] = _take(toff, ways["keys"], rows)
        _, out["way_vals"] = _take(toff, ways["vals"], rows)
        vis = ways.get("visible")
        vis = vis if vis is not None and len(vis) == n_w else np.ones(n_w, i64)
        out["way_meta"] = np.column_stack([ways["version"], ways["timestamp"], vis])[rows].astype(
            i64
        )
        if all_ways:
            out["all_id"], out["all_refs_off"], out["all_refs"] = ways["id"], roff, ways["refs"]
    else:
        out.update(
            way_id=np.empty(0, i64),
            way_refs_off=np.zeros(1, i64),
            way_refs=np.empty(0, i64),
            way_tags_off=np.zeros(1, i64),
            way_keys=np.empty(0, i64),
            way_vals=np.empty(0, i64),
            way_meta=np.empty((0, 3), i64),
        )
    out.setdefault("all_id", np.empty(0, i64))
    out.setdefault("all_refs_off", np.zeros(1, i64))
    out.setdefault("all_refs", np.empty(0, i64))
    counts = np.zeros((1, 11), dtype=i64)
    counts[0, 1] = len(out["node_id"])
    counts[0, 4] = len(out["all_id"])
    counts[0, 6] = len(out["way_id"])
    out["counts"] = counts
    return out


def _take(off: np.ndarray, values: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    counts = np.diff(off)[rows]
    new = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(counts, out=new[1:])
    return new, values[_ranges(off[:-1][rows], counts)]


def _decoded(
    path: Path, keys: list[bytes], all_ways: bool, threads: int = THREADS
) -> Iterator[tuple[dict, set[int]]]:
    """The decoded batches of the file in file order (decoded ahead on `threads`)."""
    batches = _batches(data_blobs(path))
    firsts = np.cumsum([0] + [len(b) for b in batches])
    if threads <= 1:
        for b, i in zip(batches, firsts, strict=False):
            yield from _decode_batch(path, b, keys, all_ways, int(i))
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        ahead = []
        for b, i in zip(batches, firsts, strict=False):
            ahead.append(pool.submit(_decode_batch, path, b, keys, all_ways, int(i)))
            if len(ahead) > threads:
                yield from ahead.pop(0).result()
        for fut in ahead:
            yield from fut.result()


# --------------------------------------------------------------------------- nodes


class NodeStore:
    """Every node's id and location, batch by batch (16 bytes a node).

    Locations are kept as int32 multiples of 100 nanodegrees when that is exact (the usual
    PBF granularity), else as float64; :meth:`lookup` gives back the decoder's floats, bit
    for bit. Batches of a sorted file are sorted runs of ids; each lookup searches the run
    that can hold the id.
    """

    def __init__(self) -> None:
        self.ids: list[np.ndarray] = []
        self.x: list[np.ndarray] = []
        self.y: list[np.ndarray] = []
        self.firsts: list[int] = []
        self.sorted = True
        self.count = 0

    @staticmethod
    def _pack(deg: np.ndarray) -> np.ndarray:
        nano = np.rint(deg * 1e9).astype(np.int64)
        units = nano // 100
        if (
            (nano % 100 == 0).all()
            and (np.abs(units) < 2**31).all()
            and ((units * 100).astype(np.float64) / 1e9 == deg).all()
        ):
            return units.astype(np.int32)
        return deg.astype(np.float64)

    @staticmethod
    def _unpack(v: np.ndarray) -> np.ndarray:
        if v.dtype == np.int32:
            return (v.astype(np.int64) * 100).astype(np.float64) / 1e9
        return v

    def add(self, ids: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> None:
        if len(ids) == 0:
            return
        if self.sorted:
            inside = (np.diff(ids) > 0).all()
            after = not self.ids or int(ids[0]) > int(self.ids[-1][-1])
            self.sorted = bool(inside and after)
        self.ids.append(ids.copy())
        self.x.append(self._pack(lon))
        self.y.append(self._pack(lat))
        self.firsts.append(int(ids[0]))
        self.count += len(ids)

    def _merge(self) -> None:
        """Make one sorted run (an unsorted file): ids sorted, duplicates keep the last."""
        ids = np.concatenate(self.ids)
        x = np.concatenate([self._unpack(v) for v in self.x])
        y = np.concatenate([self._unpack(v) for v in self.y])
        order = np.argsort(ids, kind="stable")
        ids, x, y = ids[order], x[order], y[order]
        last = np.r_[ids[1:] != ids[:-1], True]
        self.ids, self.x, self.y = [ids[last]], [self._pack(x[last])], [self._pack(y[last])]
        self.firsts = [int(ids[0])] if len(ids) else []
        self.sorted = True

    def lookup(self, refs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lon, lat, found) of each node id in `refs` (NaN where the file lacks the node)."""
        if not self.sorted:
            self._merge()
        lon = np.full(len(refs), np.nan)
        lat = np.full(len(refs), np.nan)
        found = np.zeros(len(refs), dtype=bool)
        if not self.ids or len(refs) == 0:
            return lon, lat, found
        # the distinct ids in order: each run's share is one slice, searched in order
        uniq, inverse = np.unique(refs, return_inverse=True)
        ulon = np.full(len(uniq), np.nan)
        ulat = np.full(len(uniq), np.nan)
        ufound = np.zeros(len(uniq), dtype=bool)
        bounds = np.searchsorted(uniq, np.asarray(self.firsts + [np.iinfo(np.int64).max]))
        for r in range(len(self.ids)):
            a, b = bounds[r], bounds[r + 1]
            if a == b:
                continue
            ids = self.ids[r]
            q = uniq[a:b]
            pos = np.minimum(np.searchsorted(ids, q), len(ids) - 1)
            hit = ids[pos] == q
            s, p = np.flatnonzero(hit) + a, pos[hit]
            ulon[s] = self._unpack(self.x[r][p])
            ulat[s] = self._unpack(self.y[r][p])
            ufound[s] = True
        return ulon[inverse], ulat[inverse], ufound[inverse]


# --------------------------------------------------------------------------- tags


def _strings(out: dict) -> np.ndarray:
    """The batch's tag strings (decoded as pyrosm decodes them: UTF-8, errors replaced)."""
    off = out["string_off"]
    data = out["string_data"].tobytes()
    return np.array(
        [data[off[i] : off[i + 1]].decode("utf-8", "replace") for i in range(len(off) - 1)],
        dtype=object,
    )


@dataclass
class Sparse:
    """A text column of `n` rows held as its values only: `values[i]` at row `rows[i]`
    (ascending), the other rows missing. A country's tag columns are mostly empty; an
    object array per column would hold ~8 bytes a row for nothing."""

    n: int
    rows: np.ndarray
    values: np.ndarray

    @classmethod
    def of(cls, dense: np.ndarray) -> Sparse:
        rows = np.flatnonzero(pd.notna(dense))
        return cls(len(dense), rows, dense[rows])

    def take(self, idx: np.ndarray) -> Sparse:
        """The column of the rows `idx` (row i of the result is row idx[i] of this one)."""
        pos = np.full(self.n, -1, dtype=np.int64)
        pos[self.rows] = np.arange(len(self.rows))
        k = pos[idx]
        keep = np.flatnonzero(k >= 0)
        return Sparse(len(idx), keep, self.values[k[keep]])

    def dense(self) -> np.ndarray:
        out = np.full(self.n, None, dtype=object)
        out[self.rows] = self.values
        return out


@dataclass
class Tags:
    """Tags of `n` elements as pairs in the elements' tag order: element `row`, key code
    `kcode` (the key is `names[kcode]`; a key `id` is named `id_tag`, as pyrosm names it)
    and `value` (an object array of str)."""

    n: int
    row: np.ndarray
    kcode: np.ndarray
    value: np.ndarray
    names: np.ndarray
    _codes: dict[str, int] = field(default_factory=dict)
    _by_key: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_ids(
        cls, n: int, off: np.ndarray, key_ids: np.ndarray, val_ids: np.ndarray, strings: np.ndarray
    ) -> Tags:
        """Tags whose keys and values are ids of `strings` (the decoder's string table)."""
        codes, uniq = pd.factorize(strings)
        names = np.asarray(uniq, dtype=object).copy()
        names[names == "id"] = "id_tag"
        row = np.repeat(np.arange(n, dtype=np.int64), np.diff(off))
        return cls(n, row, codes[key_ids], strings[val_ids], names)

    @classmethod
    def from_dicts(cls, dicts: list[dict]) -> Tags:
        keys = [("id_tag" if k == "id" else k) for d in dicts for k in d]
        codes, uniq = pd.factorize(np.array(keys, dtype=object))
        row = np.repeat(np.arange(len(dicts), dtype=np.int64), [len(d) for d in dicts])
        value = np.array([v for d in dicts for v in d.values()], dtype=object)
        return cls(len(dicts), row, codes, value, np.asarray(uniq, dtype=object))

    def code(self, key: str) -> int:
        if not self._codes:
            self._codes = {}
            for i, name in enumerate(self.names):
                self._codes.setdefault(name, i)
        return self._codes.get(key, -1)

    def get(self, key: str) -> np.ndarray:
        """The value of `key` per element (None where absent; the last one if repeated)."""
        if key not in self._by_key:
            out = np.full(self.n, None, dtype=object)
            c = self.code(key)
            if c >= 0:
                m = self.kcode == c
                out[self.row[m]] = self.value[m]
            self._by_key[key] = out
        return self._by_key[key]

    def sparse(self, key: str) -> Sparse:
        """The value of `key` as a :class:`Sparse` column (the last one if repeated)."""
        c = self.code(key)
        if c < 0:
            return Sparse(self.n, np.empty(0, np.int64), np.empty(0, object))
        m = np.flatnonzero(self.kcode == c)
        rows = self.row[m]
        last = np.r_[rows[1:] != rows[:-1], True] if len(rows) else np.zeros(0, bool)
        return Sparse(self.n, rows[last], self.value[m[last]])

    def take(self, rows: np.ndarray) -> Tags:
        """The tags of the elements `rows` (ascending positions), in that order."""
        sel = np.zeros(self.n, dtype=bool)
        sel[rows] = True
        rank = np.cumsum(sel) - 1
        keep = sel[self.row]
        return Tags(
            len(rows),
            rank[self.row[keep]],
            self.kcode[keep],
            self.value[keep],
            self.names,
            self._codes,
        )

    def is_area(self) -> np.ndarray:
        """pyrosm's rule for a closed way: an area unless `area=no`, when a tag is one of
        the OSM wiki's polygon features (`pyrosm.config.polygon_features`)."""
        from pyrosm.config.polygon_features import ALL, BLOCKLIST, PASSLIST, POLYGON_FEATURES

        hit = np.zeros(len(self.kcode), dtype=bool)
        for k, (rule, values) in POLYGON_FEATURES.items():
            c = self.code(k)
            if c < 0:
                continue
            m = self.kcode == c
            if not m.any():
                continue
            if rule == ALL:
                hit |= m
            elif rule == PASSLIST:
                hit[m] = np.isin(self.value[m], list(values))
            elif rule == BLOCKLIST:
                hit[m] = ~np.isin(self.value[m], list(values))
        out = np.zeros(self.n, dtype=bool)
        out[self.row[hit]] = True
        return out & ~(self.get("area") == "no")

    def split(self, columns: list[str]) -> tuple[dict[str, Sparse], Sparse | None]:
        """pyrosm's tag columns (those of `columns` with a value, in that order) and the
        JSON of the other tags per element (missing where it has none)."""
        from rapidjson import dumps

        wanted = [k for k in dict.fromkeys(columns) if self.code(k) >= 0]
        in_cols = np.isin(self.kcode, [self.code(k) for k in wanted])
        present = set(self.names[np.unique(self.kcode[in_cols])])
        cols = {k: self.sparse(k) for k in wanted if k in present}
        rest = np.flatnonzero(~in_cols)
        if len(rest) == 0:
            return cols, None
        rows = self.row[rest]
        keys = self.names[self.kcode[rest]].tolist()
        vals = self.value[rest].tolist()
        cuts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1], True]).tolist()
        json = np.empty(len(cuts) - 1, dtype=object)
        json[:] = [
            dumps(dict(zip(keys[a:b], vals[a:b], strict=True)))
            for a, b in zip(cuts[:-1], cuts[1:], strict=True)
        ]
        return cols, Sparse(self.n, rows[cuts[:-1]], json)


# --------------------------------------------------------------------------- geometry


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    off = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=off[1:])
    return (
        np.arange(total, dtype=np.int64) - np.repeat(off[:-1], counts) + np.repeat(starts, counts)
    )


def _valid_xy(lon: np.ndarray, lat: np.ndarray, found: np.ndarray) -> np.ndarray:
    return found & (lon <= 180.0) & (lon >= -180.0) & (lat <= 90.0) & (lat >= -90.0)


def _area_geometries(
    refs_off: np.ndarray,
    refs: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    valid: np.ndarray,
    area: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each way's geometry as pyrosm builds it outside networks (None where it has none):
    a closed way whose tags make an area is a Polygon, any other way a LineString through
    its nodes that have valid locations. Also returns which polygons are already oriented
    as pyrosm orients them (exterior counter-clockwise), so no second copy is made."""
    import shapely

    n = len(refs_off) - 1
    counts = np.diff(refs_off)
    out = np.full(n, None, dtype=object)
    nonempty = counts > 0
    first = np.where(nonempty, refs[np.minimum(refs_off[:-1], max(len(refs) - 1, 0))], -1)
    last = np.where(nonempty, refs[np.maximum(refs_off[1:] - 1, 0)], -2)
    closed_area = nonempty & (first == last) & area
    cum = np.zeros(len(valid) + 1, dtype=np.int64)
    np.cumsum(valid, out=cum[1:])
    complete = (cum[refs_off[1:]] - cum[refs_off[:-1]]) == counts
    xy = np.column_stack([lon, lat])
    rings = closed_area & complete & (counts >= 4)
    oriented = np.zeros(n, dtype=bool)
    pos = _ranges(refs_off[:-1][rings], counts[rings])
    if len(pos):
        try:
            index = np.repeat(np.arange(rings.sum()), counts[rings])
            ring = shapely.linearrings(xy[pos], indices=index)
            # reverse the clockwise rings (GEOS's own test, as its orient_polygons uses)
            cw = ~shapely.is_ccw(ring)
            if cw.any():
                starts = np.r_[0, np.cumsum(counts[rings])[:-1]]
                ends = starts + counts[rings]
                flip = np.repeat(cw, counts[rings])
                back = np.repeat(starts + ends - 1, counts[rings]) - np.arange(len(pos))
                order = np.where(flip, back, np.arange(len(pos)))
                ring = ring.copy()
                ring[cw] = shapely.linearrings(
                    xy[pos][order][flip], indices=np.repeat(np.arange(cw.sum()), counts[rings][cw])
                )
            out[rings] = shapely.polygons(ring)
            oriented[rings] = True
        except shapely.errors.GEOSException:
            rings[:] = False  # a degenerate ring: every way by the per-way path, as pyrosm
            oriented[:] = False
    lines = ~closed_area & complete & (counts >= 2)
    pos = _ranges(refs_off[:-1][lines], counts[lines])
    if len(pos):
        out[lines] = shapely.linestrings(
            xy[pos], indices=np.repeat(np.arange(lines.sum()), counts[lines])
        )
    for w in np.flatnonzero(nonempty & ~rings & ~lines):
        a, b = refs_off[w], refs_off[w + 1]
        kept = xy[a:b][valid[a:b]]
        if closed_area[w]:
            if len(kept) > 2:
                try:
                    out[w] = shapely.polygons(kept)
                except (shapely.errors.GEOSException, ValueError):
                    out[w] = None
        elif len(kept) >= 2:
            out[w] = shapely.linestrings(kept)
    return out, oriented


def _segments(
    refs_off: np.ndarray, refs: np.ndarray, lon: np.ndarray, lat: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """pyrosm's network segments: consecutive pairs of each way's nodes with valid
    locations. Returns (way of each segment, u, v, start lon/lat, end lon/lat)."""
    owner = np.repeat(np.arange(len(refs_off) - 1), np.diff(refs_off))
    p = np.flatnonzero(valid)
    same = owner[p][1:] == owner[p][:-1]
    a, b = p[:-1][same], p[1:][same]
    start = np.column_stack([lon[a], lat[a]])
    end = np.column_stack([lon[b], lat[b]])
    return owner[a], refs[a], refs[b], start, end


# --------------------------------------------------------------------------- relations


def _relation_records(path: Path, specs: list[LayerSpec]) -> Iterator[dict]:
    """Every relation with one of the layers' keys, via libosmium (relations only)."""
    import osmium

    keys = {s.key for s in specs}
    for r in osmium.FileProcessor(str(path), osmium.osm.RELATION):
        if not any(k in r.tags for k in keys):
            continue
        yield {
            "id": r.id,
            "tags": {t.k: t.v for t in r.tags},
            "members": [(m.type, m.ref, m.role) for m in r.members],
            "version": r.version,
            "timestamp": int(r.timestamp.timestamp()) if r.timestamp else 0,
            "changeset": r.changeset,
            "visible": bool(r.visible),
        }


def _tail_relations(path: Path, specs: list[LayerSpec]) -> tuple[list[dict], set[int]] | None:
    """The relations of a sorted file, from its last blobs (where they are), and those
    blobs' indices; None when a blob there cannot be read this way."""
    import zlib

    blobs = data_blobs(path)
    keys = {s.key.encode() for s in specs}
    records: list[dict] = []
    seen: set[int] = set()
    with path.open("rb") as fh:
        for i in range(len(blobs) - 1, -1, -1):
            try:
                data = _read_blob(fh, int(blobs[i, 0]), int(blobs[i, 1]))
            except (ValueError, zlib.error):
                return None
            table, _, nodes, ways, rels = _primitive_block(path, np.frombuffer(data, np.uint8))
            if rels is not None and len(rels["id"]):
                seen.add(i)
                records[:0] = _block_relations(table, rels, keys)
            if nodes is not None or ways is not None or rels is None:
                break
    return records, seen


def _block_relations(table: list[bytes], rels: dict, keys: set[bytes]) -> list[dict]:
    types = {0: "n", 1: "w", 2: "r"}
    text = [t.decode("utf-8", "replace") for t in table]
    n = len(rels["id"])
    toff, moff = rels["tags_off"], rels["members_off"]
    if len(toff) == n:
        toff = np.r_[toff, len(rels["keys"])]
    if len(moff) == n:
        moff = np.r_[moff, len(rels["memids"])]
    vis = rels.get("visible")
    vis = vis if vis is not None and len(vis) == n else np.ones(n, np.int64)
    out = []
    for k in range(n):
        kk = rels["keys"][toff[k] : toff[k + 1]]
        if not any(table[int(c)] in keys for c in kk):
            continue
        vv = rels["vals"][toff[k] : toff[k + 1]]
        a, b = moff[k], moff[k + 1]
        out.append(
            {
                "id": int(rels["id"][k]),
                "tags": {text[int(x)]: text[int(y)] for x, y in zip(kk, vv, strict=True)},
                "members": [
                    (types[int(t)], int(m), text[int(r)])
                    for t, m, r in zip(
                        rels["types"][a:b], rels["memids"][a:b], rels["roles"][a:b], strict=True
                    )
                ],
                "version": int(rels["version"][k]),
                "timestamp": int(rels["timestamp"][k]),
                "changeset": int(rels["changeset"][k]),
                "visible": bool(vis[k]),
            }
        )
    return out


def _read_relations(records: Iterator[dict], specs: list[LayerSpec]) -> dict[str, list[dict]]:
    """The relations each layer keeps (pyrosm's value filter), in file order."""
    rel_specs = [s for s in specs if s.relations]
    out: dict[str, list[dict]] = {s.name: [] for s in rel_specs}
    for record in records:
        for s in rel_specs:
            value = record["tags"].get(s.key)
            if value is None or (s.values is not None and value not in s.values):
                continue
            out[s.name].append(record)
    return out


def _relation_kind(tag: dict) -> bool:
    """Whether a relation with these tags is a line (pyrosm's `relation_kind`)."""
    force_line = False
    for lsk in ("barrier", "route", "railway", "highway", "waterway"):
        if lsk not in tag:
            continue
        if lsk == "railway":
            if tag["railway"] not in (
                "platform",
                "station",
                "turntable",
                "roundhouse",
                "traverser",
                "wash",
            ):
                force_line = True
                break
        elif lsk == "highway":
            if tag["highway"] == "pedestrian":
                if "area" in tag:
                    if tag["area"] != "yes":
                        force_line = True
                    break
            elif tag["highway"] not in ("platform", "rest_area", "services"):
                force_line = True
                break
        elif lsk == "waterway":
            if tag["waterway"] not in ("riverbank", "dock", "boatyard", "dam", "fuel"):
                force_line = True
                break
        else:
            force_line = True
            break
    if tag.get("area") == "no":
        force_line = True
    if tag.get("type") in ("multipolygon", "boundary"):
        force_line = False
    return force_line


def _fix_geometry(geometry: Any, diff_threshold: float = 20) -> Any:
    """pyrosm's `fix_geometry`: buffer(0), else the bowtie fix, unless the area changes much."""
    from shapely.geometry import MultiPolygon
    from shapely.ops import polygonize

    fix = geometry.buffer(0)
    if fix.is_valid:
        try:
            if abs(1 - geometry.area / fix.area) < diff_threshold:
                return fix
        except ZeroDivisionError:
            pass
    if isinstance(geometry, MultiPolygon):
        return geometry
    ext = geometry.exterior
    fix = MultiPolygon(polygonize(ext.intersection(ext)))
    if fix.is_valid:
        try:
            if abs(1 - geometry.area / fix.area) < diff_threshold:
                return fix
        except ZeroDivisionError:
            pass
    return geometry


def _polygonal_only(geometry: Any) -> Any:
    from shapely.geometry import MultiPolygon

    if geometry is None or geometry.is_empty:
        return None
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    if geometry.geom_type == "GeometryCollection":
        parts = []
        for part in geometry.geoms:
            if part.is_empty:
                continue
            if part.geom_type == "Polygon":
                parts.append(part)
            elif part.geom_type == "MultiPolygon":
                parts.extend(p for p in part.geoms if not p.is_empty)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else MultiPolygon(parts)
    return None


def _multipolygon(lines: list) -> Any:
    """pyrosm's multipolygon assembly: merged closed rings, even-odd overlay, fixed."""
    import shapely

    merged = shapely.line_merge(shapely.multilinestrings(lines))
    if merged is None:
        parts = []
    elif merged.geom_type == "LineString":
        parts = [merged]
    elif merged.geom_type in ("MultiLineString", "GeometryCollection"):
        parts = [p for p in merged.geoms if p.geom_type == "LineString"]
    else:
        parts = []
    rings = []
    for line in parts:
        c = shapely.get_coordinates(line)
        if c.shape[0] < 4 or not (c[0, 0] == c[-1, 0] and c[0, 1] == c[-1, 1]):
            continue
        try:
            ring = shapely.linearrings(c)
        except (shapely.errors.GEOSException, ValueError):
            continue
        try:
            poly = shapely.polygons(ring)
            if not poly.is_valid:
                poly = poly.buffer(0)
        except shapely.errors.GEOSException:
            continue
        if poly is None or poly.is_empty:
            continue
        rings.append(poly)
    if not rings:
        return None
    try:
        parts_arr = np.asarray(rings, dtype=object)
        while len(parts_arr) > 1:
            k = len(parts_arr) // 2 * 2
            merged = shapely.symmetric_difference(parts_arr[0:k:2], parts_arr[1:k:2])
            parts_arr = np.concatenate([merged, parts_arr[k:]])
        area = parts_arr[0]
    except shapely.errors.GEOSException:
        return None
    area = _polygonal_only(area)
    if area is None:
        return None
    if not shapely.is_valid(area):
        area = _polygonal_only(_fix_geometry(area))
    return area


def _relation_geometry(record: dict, member_ways: dict[int, np.ndarray]) -> Any:
    """A relation's geometry from its member ways' coordinates (pyrosm's rules)."""
    import shapely

    ids = np.unique(np.array([m[1] for m in record["members"]], dtype=np.int64))
    # member ways in id order (pyrosm sorts them by id), any member type matching a way id
    lines = []
    for wid in ids:
        coords = member_ways.get(int(wid))
        if coords is None:
            continue
        if len(coords) >= 2:
            lines.append(shapely.linestrings(coords))
    if not any(int(w) in member_ways for w in ids):
        return None, False
    if not lines:
        return None, True
    force_line = _relation_kind(record["tags"])
    if force_line:
        if len(lines) == 1:
            geom = lines[0]
        else:
            geom = shapely.line_merge(shapely.multilinestrings(lines))
        return geom, True
    geom = _multipolygon(lines)
    if geom is not None and not shapely.is_valid(geom):
        geom = _fix_geometry(geom)
    return geom, True


# --------------------------------------------------------------------------- the reader


@dataclass
class _Part:
    """Rows of one layer from one batch: columns (name -> array) and geometries."""

    kind: str  # node, way, relation
    columns: dict[str, np.ndarray]
    geometry: np.ndarray
    present: set[str]  # columns with a value before rows without geometry are dropped
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # u, v, length (streets)
    order: int = 0  # the batch it came from (batches are processed out of order)
    oriented: np.ndarray | None = None  # polygons already oriented as pyrosm orients them


class _Reader:
    """Turns decoded batches into each layer's parts."""

    def __init__(self, specs: list[LayerSpec], relations: dict[str, list[dict]]) -> None:
        self.specs = specs
        self.relations = relations
        self.nodes = NodeStore()
        self.parts: dict[str, list[_Part]] = {s.name: [] for s in specs}
        self.exclude = {
            name: np.unique(
                np.array([m[1] for r in rels for m in r["members"] if m[0] == "w"], np.int64)
            )
            for name, rels in relations.items()
        }
        wanted = [v for v in self.exclude.values() if len(v)]
        self.member_ids = np.unique(np.concatenate(wanted)) if wanted else np.empty(0, np.int64)
        self.member_ways: dict[int, np.ndarray] = {}
        self.ways_seen = False
        self.deferred = False  # every batch's nodes are added before any way is read
        self._segment_lengths = _decoder()[2]
        self._order = threading.local()
        self._lock = threading.Lock()

    def _add(self, name: str, part: _Part) -> None:
        part.order = getattr(self._order, "order", 0)
        with self._lock:
            self.parts[name].append(part)

    # nodes ----------------------------------------------------------------
    def add_nodes(self, out: dict) -> None:
        if len(out["node_id"]):
            blocks = out["counts"]
            with_ways = np.flatnonzero(blocks[:, 6] + blocks[:, 4] > 0)
            with_nodes = np.flatnonzero(blocks[:, 1] > 0)
            late = len(with_ways) and with_nodes[-1] > with_ways[0]
            if not self.deferred and (self.ways_seen or late):
                raise _Unsorted()
            self.nodes.add(out["node_id"], out["node_lon"], out["node_lat"])
        rows = out["feature_row"]
        if len(rows) == 0:
            return
        tags = Tags.from_ids(
            len(rows),
            out["feature_pairs_off"],
            out["feature_keys"],
            out["feature_vals"],
            _strings(out),
        )
        meta = out["feature_meta"]
        for spec in self.specs:
            if not spec.nodes:
                continue
            keep = np.flatnonzero(_keep(spec, tags))
            if len(keep) == 0:
                continue
            sub = tags.take(keep)
            cols, json = sub.split(spec.columns)
            r = rows[keep]
            lon, lat = out["node_lon"][r], out["node_lat"][r]
            m = meta[keep]
            columns = {
                "id": out["node_id"][r],
                "lon": lon,
                "lat": lat,
                "tags": json
                if json is not None
                else Sparse(len(keep), np.empty(0, np.int64), np.empty(0, object)),
                "visible": m[:, 3].astype(bool),
                "version": m[:, 0].astype(np.int32),
                "timestamp": m[:, 1].astype(np.uint32),
                "changeset": m[:, 2].astype(np.int32),
                **cols,
            }
            import shapely

            present = set(columns) - {"tags"} | ({"tags"} if json is not None else set())
            self._add(
                spec.name, _Part("node", columns, shapely.points(lon, lat), present | {"tags"})
            )

    # ways -----------------------------------------------------------------
    def add_ways(self, out: dict, order: int = 0) -> None:
        """Add a decoded batch's ways (thread-safe: the node store is complete by now)."""
        self._order.order = order
        if len(self.member_ids) and len(out["all_id"]):
            hit = np.flatnonzero(np.isin(out["all_id"], self.member_ids))
            if len(hit):
                off, refs = out["all_refs_off"], out["all_refs"]
                for k in hit:
                    r = refs[off[k] : off[k + 1]]
                    lon, lat, found = self.nodes.lookup(r)
                    ok = _valid_xy(lon, lat, found)
                    self.member_ways[int(out["all_id"][k])] = np.column_stack([lon[ok], lat[ok]])
        n = len(out["way_id"])
        if n == 0:
            return
        tags = Tags.from_ids(
            n, out["way_tags_off"], out["way_keys"], out["way_vals"], _strings(out)
        )
        refs_off, refs = out["way_refs_off"], out["way_refs"]
        lon, lat, found = self.nodes.lookup(refs)
        valid = _valid_xy(lon, lat, found)
        area = None
        for spec in self.specs:
            if not spec.ways:
                continue
            keep = _keep(spec, tags)
            if spec.relations and len(self.exclude.get(spec.name, ())):
                keep &= ~np.isin(out["way_id"], self.exclude[spec.name])
            rows = np.flatnonzero(keep)
            if len(rows) == 0:
                continue
            sub = tags.take(rows)
            cols, json = sub.split(spec.columns)
            meta = out["way_meta"][rows]
            base = {
                **cols,
                "id": out["way_id"][rows],
                "timestamp": meta[:, 1].astype(np.uint32),
                "version": meta[:, 0].astype(np.int32),
                "visible": meta[:, 2].astype(bool),
            }
            if json is not None:
                base["tags"] = json
            present = set(base)
            counts = np.diff(refs_off)[rows]
            pos = _ranges(refs_off[:-1][rows], counts)
            sub_off = np.zeros(len(rows) + 1, dtype=np.int64)
            np.cumsum(counts, out=sub_off[1:])
            if spec.network:
                way, u, v, start, end = _segments(
                    sub_off, refs[pos], lon[pos], lat[pos], valid[pos]
                )
                import shapely

                columns = {
                    k: a.take(way) if isinstance(a, Sparse) else a[way] for k, a in base.items()
                }
                geom = (
                    shapely.linestrings(np.stack([start, end], axis=1))
                    if len(start)
                    else np.empty(0, dtype=object)
                )
                extra = {"u": u, "v": v, "length": self._segment_lengths(start, end)}
                self._add(spec.name, _Part("way", columns, geom, present, extra))
            else:
                if area is None:
                    area = tags.is_area()
                geom, oriented = _area_geometries(
                    sub_off, refs[pos], lon[pos], lat[pos], valid[pos], area[rows]
                )
                self._add(spec.name, _Part("way", base, geom, present, oriented=oriented))

    # relations ---------------------------------------------------------------
    def relation_parts(self) -> None:
        for spec in self.specs:
            recs = self.relations.get(spec.name) or []
            kept, geoms = [], []
            for rec in recs:
                geom, has_ways = _relation_geometry(rec, self.member_ways)
                if not has_ways or geom is None:
                    continue
                kept.append(rec)
                geoms.append(geom)
            if not kept:
                continue
            tags = Tags.from_dicts([r["tags"] for r in kept])
            # pyrosm's relation record: tags, then the member list, other tags to JSON
            members = [
                [
                    {"member_id": int(ref), "member_type": _MEMBER_TYPES[t], "member_role": role}
                    for t, ref, role in r["members"]
                ]
                for r in kept
            ]
            cols, json = _relation_columns(tags, members, spec.columns)
            columns = {
                **cols,
                "id": np.array([r["id"] for r in kept], dtype=np.int64),
                "timestamp": np.array([r["timestamp"] for r in kept], dtype=np.int64),
                "changeset": np.array([r["changeset"] for r in kept], dtype=np.int64),
                "version": np.array([r["version"] for r in kept], dtype=np.int64),
                "visible": np.array([r["visible"] for r in kept], dtype=bool),
                "tags": json,
            }
            geom = np.empty(len(geoms), dtype=object)
            geom[:] = geoms
            self._add(spec.name, _Part("relation", columns, geom, set(columns)))


def _relation_columns(
    tags: Tags, members: list[list[dict]], columns: list[str]
) -> tuple[dict[str, Sparse], Sparse]:
    from rapidjson import dumps

    cols, _ = tags.split(columns)
    wanted = set(columns) | {"id", "nodes", "timestamp", "changeset", "version", "geometry"}
    json = np.full(tags.n, None, dtype=object)
    keys = tags.names[tags.kcode]
    for i in range(tags.n):
        m = tags.row == i
        other = {k: v for k, v in zip(keys[m], tags.value[m], strict=True) if k not in wanted}
        other["members"] = members[i]
        json[i] = dumps(other)
    return cols, Sparse.of(json)


class _Unsorted(Exception):
    """A node came after a way: the file is not sorted (read again, ways kept to the end)."""


# --------------------------------------------------------------------------- frames


def _kind_order(spec: LayerSpec, kind: str, present: set[str]) -> list[str]:
    """pyrosm's column order of one element kind of a layer (with its `osm_type` and
    `geometry`), the tag columns being those with a value."""
    tag_cols = [c for c in dict.fromkeys(spec.columns) if c in present]
    if kind == "node":
        head = ["id", "lon", "lat", "tags", "visible", "version", "timestamp", "changeset"]
        return head + [c for c in tag_cols if c not in head] + ["geometry", "osm_type"]
    if kind == "relation":
        meta = ["id", "timestamp", "changeset", "version"]
        return list(dict.fromkeys(tag_cols + ["visible"] + meta)) + [
            "geometry",
            "tags",
            "osm_type",
        ]
    order = list(dict.fromkeys(tag_cols + ["visible", "id", "timestamp", "version"]))
    order += (["tags"] if "tags" in present else []) + ["osm_type", "geometry"]
    if spec.network:
        order += ["u", "v", "length"]
    return order


def _frame(spec: LayerSpec, parts: list[_Part]):
    """The layer's GeoDataFrame from its parts, as pyrosm gives it back (or None)."""
    import geopandas as gpd
    import pyarrow as pa
    import shapely

    kinds = []
    parts = sorted(parts, key=lambda p: p.order)
    for kind in ("node", "way", "relation"):
        ps = [p for p in parts if p.kind == kind and len(p.geometry)]
        if ps:
            present = set().union(*(p.present for p in ps))
            kinds.append((kind, ps, _kind_order(spec, kind, present)))
    if not kinds:
        return None
    order = list(dict.fromkeys(c for _, _, o in kinds for c in o))
    ps = [p for _, kps, _ in kinds for p in kps]
    kind_of = [k for k, kps, _ in kinds for _ in kps]
    lengths = np.array([len(p.geometry) for p in ps], dtype=np.int64)
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    geom = np.concatenate([p.geometry for p in ps]) if len(ps) > 1 else ps[0].geometry
    oriented = np.concatenate(
        [np.zeros(len(p.geometry), bool) if p.oriented is None else p.oriented for p in ps]
    )
    keep = None
    if not spec.network:
        ok = pd.notna(geom)
        if not ok.all():
            keep = ok
            geom = geom[ok]
            oriented = oriented[ok]
    if len(geom) == 0:
        return None
    # new row of each old row (or -1 when its geometry is missing)
    remap = None if keep is None else np.where(keep, np.cumsum(keep) - 1, -1)
    n = len(geom)
    arrays = {}
    for c in order:
        if c == "geometry":
            continue
        if c == "osm_type":
            names = pa.array([k for k, _, _ in kinds], type=pa.large_string())
            codes = np.repeat([[k for k, _, _ in kinds].index(k) for k in kind_of], lengths)
            if keep is not None:
                codes = codes[keep]
            arrays[c] = names.take(pa.array(codes))
            continue
        pieces = [p.columns.get(c, p.extra.get(c)) for p in ps]
        text = any(isinstance(v, Sparse) or (v is not None and v.dtype == object) for v in pieces)
        if text:
            rows, values = [], []
            for v, start in zip(pieces, starts, strict=True):
                if v is None:
                    continue
                v = v if isinstance(v, Sparse) else Sparse.of(v)
                rows.append(v.rows + start)
                values.append(v.values)
            arrays[c] = _text_column(n, np.concatenate(rows), np.concatenate(values), remap)
            continue
        full = [
            np.full(k, np.nan) if v is None else v for v, k in zip(pieces, lengths, strict=True)
        ]
        v = np.concatenate(full) if len(full) > 1 else full[0]
        if keep is not None:
            v = v[keep]
        if c in _INT_DTYPES and v.dtype.kind in "iu":
            v = v.astype(_INT_DTYPES[c])
        elif c == "changeset" and v.dtype.kind in "iu":
            v = v.astype(np.int32)
        elif c == "visible":
            v = v.astype(bool)
        arrays[c] = pa.array(v)
    polygonal = np.isin(shapely.get_type_id(geom), [3, 6, 7]) & ~oriented
    if polygonal.any():
        geom = geom.copy()
        geom[polygonal] = shapely.orient_polygons(geom[polygonal], exterior_cw=False)
    df = pa.table(arrays).to_pandas()
    df.insert(order.index("geometry"), "geometry", geom)
    return gpd.GeoDataFrame(df, geometry="geometry", crs="EPSG:4326")


def _text_column(n: int, rows: np.ndarray, values: np.ndarray, remap: np.ndarray | None):
    """An Arrow text column of `n` rows from its values at `rows` (missing elsewhere); rows
    are first moved by `remap` (-1: dropped)."""
    import pyarrow as pa

    if remap is not None:
        new = remap[rows]
        ok = new >= 0
        rows, values = new[ok], values[ok]
    dense = pa.array(values, type=pa.large_string())
    index = np.full(n, -1, dtype=np.int64)
    index[rows] = np.arange(len(rows))
    return dense.take(pa.array(index, mask=index < 0))


_INT_DTYPES = {
    "id": np.int64,
    "version": np.int32,
    "timestamp": np.uint32,
    "u": np.int64,
    "v": np.int64,
}


# --------------------------------------------------------------------------- entry points


def release_memory() -> None:
    """Give freed heap memory back to the system (glibc keeps what threads freed).

    After a large read the decoder threads' heaps hold hundreds of MB that this process
    no longer uses; `malloc_trim` returns them. A no-op where glibc is not the allocator.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


def read_layers(path: str | Path, streets: bool = True, threads: int = THREADS) -> dict[str, Any]:
    """The raw layers of `read_osm` from one pass over the PBF `path`.

    Returns a dict: `streets`, `railways` (None when `streets` is False), `buildings`,
    `pipes`, `plants`, `landuse`, `dc` and `addresses`, each a GeoDataFrame in EPSG:4326
    with pyrosm's columns for that read, or None when the file has none.
    """
    path = Path(path)
    specs = layer_specs(streets)
    keys = sorted({s.key.encode() for s in specs})
    tail = _tail_relations(path, specs)
    attempts = []
    if tail is not None:
        attempts.append((_read_relations(iter(tail[0]), specs), tail[1]))
    attempts.append((None, None))
    for relations, blobs in attempts:
        if relations is None:
            relations = _read_relations(_relation_records(path, specs), specs)
        try:
            try:
                reader = _run(path, specs, relations, keys, threads, False, blobs)
            except _Unsorted:
                log.info("%s is not sorted (nodes after ways); reading it again", path)
                reader = _run(path, specs, relations, keys, threads, True, blobs)
            break
        except _RelationsElsewhere:
            log.info("%s has relations before its last blocks; reading them first", path)
    reader.nodes = NodeStore()  # the locations are in the geometries now
    reader.relation_parts()
    release_memory()
    out = {}
    for s in specs:
        out[s.name] = _frame(s, reader.parts.pop(s.name))
        release_memory()
    del reader
    release_memory()
    if not streets:
        out["streets"] = out["railways"] = None
    return out


def _run(
    path: Path,
    specs: list[LayerSpec],
    relations: dict[str, list[dict]],
    keys: list[bytes],
    threads: int,
    deferred: bool,
    relation_blobs: set[int] | None = None,
) -> _Reader:
    """Decode the file and feed the reader: nodes here, ways on `threads` worker threads
    (shapely and numpy release the GIL). Raises _Unsorted when a node follows a way, and
    _RelationsElsewhere when a relation block lies outside the blobs read beforehand."""
    reader = _Reader(specs, relations)
    reader.deferred = deferred
    all_ways = len(reader.member_ids) > 0
    pending: list[tuple[int, dict]] = []
    with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
        futures = []
        try:
            for i, (out, handed_back) in enumerate(_decoded(path, keys, all_ways, threads)):
                if relation_blobs is not None and not handed_back <= relation_blobs:
                    raise _RelationsElsewhere()
                if deferred:
                    if len(out["node_id"]) or len(out["feature_row"]):
                        reader.add_nodes(out)
                    pending.append((i, out))
                    continue
                reader.add_nodes(out)
                if len(out["way_id"]) or len(out["all_id"]):
                    reader.ways_seen = reader.ways_seen or len(out["way_id"]) > 0
                    futures.append(pool.submit(reader.add_ways, out, i))
        finally:
            for fut in futures:
                fut.result()
        for fut in [pool.submit(reader.add_ways, out, i) for i, out in pending]:
            fut.result()
    return reader


class _RelationsElsewhere(Exception):
    """A relation block that is not in the file's tail (read all relations with libosmium)."""


__all__ = [
    "LayerSpec",
    "NodeStore",
    "available",
    "data_blobs",
    "layer_specs",
    "read_layers",
    "release_memory",
]
