"""Read an OSM PBF in one pass into every layer a study needs, with the tags it uses.

`read_osm` used to make ten pyrosm reads, and each one decoded the whole file. Here the
file is decoded once. pyrosm's C decoder does the work: it inflates and decodes the blobs
without the GIL, on two threads. Every node's location is kept in two int32 arrays (16
bytes per node with its id). Each batch of ways becomes every layer at once, with numpy
and shapely: each way's geometry is built once, straight from coordinate arrays (rings
are oriented in the arrays first, with GEOS's own test vectorised). The layers have the
elements, geometries and row order of pyrosm's readers as `read_osm` called them (the
streets, railways, buildings, pipes, plants, land use, data centers, addresses, power grid
and exclusions), but only the tags the study reads, as compact categorical columns (no
JSON `tags`, no metadata); `tests/test_ingest.py` checks both against pyrosm's reads of
the real extracts. Relations are few and, in a sorted file, in its last blocks: they are
read first, so their member ways are known when the ways go by (libosmium reads them when
they are elsewhere).

:func:`read_layers` returns the raw layers, which `read_osm` post-processes. :func:`available`
says whether the decoder is there. It is part of the pyrosm build this project pins; without
it, `read_osm` uses pyrosm's readers.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from siting.errors import InputDataError
from siting.sources.power import POWER_KINDS, POWER_TAGS, exclusion_filter
from siting.tags import HINT_KEYS, YEAR_KEYS

log = logging.getLogger(__name__)

RAILWAY_KINDS = ("rail", "light_rail", "subway", "tram")  # lines a trench must cross
ADDRESS_TAGS = ("addr:street", "addr:housenumber", "addr:postcode", "addr:city")
BATCH_BLOBS = 8  # blobs decoded together (~8,000 elements each): ways overlap decoding
BATCH_BYTES = 16 << 20
THREADS = 2
FLUSH_ROWS = 100_000  # features a streamed read holds before handing them on


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

# The tags each layer keeps as columns: those the study reads (every other tag is dropped at
# the read, and there is no JSON `tags` column). tests/test_ingest.py checks that the keys
# demand and the candidate sites read are here.
SITE_TAGS = ("name", "operator", *ADDRESS_TAGS)  # a candidate site's label and address
BUILDING_TAGS = (
    "building",
    "building:part",  # demand: parts inside an outline are dropped
    "building:levels",  # demand: floors, height, flats, construction year
    "roof:levels",
    "building:min_level",
    "height",
    "building:flats",
    *YEAR_KEYS,
    *HINT_KEYS,  # demand: the keys that class a building=yes
    "telecom",  # a building=data_center's site
    *SITE_TAGS,
)
# Free text (names, addresses, numbers as written): text columns, not categoricals, so an
# analyst's `layer["name"].fillna("")` works as on any text column; categoricals are for
# the enumerations (building, landuse, amenity, ...), where they save the memory.
FREE_TEXT = frozenset(
    (
        *SITE_TAGS,
        *YEAR_KEYS,
        "height",
        "building:levels",
        "roof:levels",
        "building:min_level",
        "building:flats",
    )
)
LANDUSE_TAGS = ("landuse", "amenity", *SITE_TAGS)  # demand reads amenity of the parcels
DATA_CENTER_TAGS = ("telecom", "building", "landuse", *SITE_TAGS)
RAILWAY_TAGS = ("railway", "name", "tunnel", "bridge")
PIPE_TAGS = ("man_made", "substance", "type")  # read_osm keeps the heat pipes
PLANT_TAGS = ("power", "plant:output:hot_water", "plant:output:heat", "generator:output:hot_water")


@dataclass
class LayerSpec:
    """One layer of `read_osm`: which elements, and which of their tags as columns.

    `filter` selects the elements: an element is kept when, for one of its keys, the value
    is one of the listed values (`None`: any value), as pyrosm's keep filter. The streets use
    pyrosm's network filter "all" instead: any way with the key except those whose tags have
    a value `exclude` lists (`area=yes`, `highway=construction`, ...). `columns` are the tags
    kept, as categoricals when `categorical` (else text); the element kinds are given by
    `nodes`, `ways` and `relations`.
    """

    name: str
    filter: dict[str, tuple[str, ...] | None]
    columns: tuple[str, ...]
    nodes: bool = True
    ways: bool = True
    relations: bool = True
    network: bool = False
    exclude: dict[str, tuple[str, ...]] = field(default_factory=dict)
    categorical: bool = True


def layer_specs(streets: bool = True) -> list[LayerSpec]:
    """The layers of `read_osm`: pyrosm's selections, with the tag columns the study uses."""
    from pyrosm.config.osm_filters import get_osm_filter

    specs = []
    if streets:
        specs.append(
            LayerSpec(
                "streets",
                {"highway": None},
                ("highway",),
                nodes=False,
                relations=False,
                network=True,
                exclude={k: tuple(v) for k, v in get_osm_filter("all").items()},
            )
        )
        specs.append(
            LayerSpec(
                "railways",
                {"railway": RAILWAY_KINDS},
                RAILWAY_TAGS,
                nodes=False,
                relations=False,
            )
        )
    exclusions: dict[str, tuple[str, ...] | None] = {
        k: tuple(v) for k, v in exclusion_filter().items()
    }
    specs += [
        LayerSpec("buildings", {"building": None}, BUILDING_TAGS, nodes=False),
        LayerSpec("pipes", {"man_made": ("pipeline",)}, PIPE_TAGS, nodes=False),
        LayerSpec("plants", {"power": ("plant", "generator")}, PLANT_TAGS),
        LayerSpec("landuse", {"landuse": ("industrial", "commercial")}, LANDUSE_TAGS),
        LayerSpec("dc", {"telecom": ("data_center", "data_centre")}, DATA_CENTER_TAGS),
        LayerSpec(
            "addresses",
            {"addr:housenumber": None},
            ADDRESS_TAGS,
            ways=False,
            relations=False,
        ),
        # the power grid and the land a data center may not take (siting.sources.power)
        LayerSpec("power", {"power": POWER_KINDS}, POWER_TAGS, categorical=False),
        LayerSpec(
            "exclusions",
            exclusions,
            (*exclusions, "name"),
            nodes=False,
            categorical=False,
        ),
    ]
    return specs


def _multi_in(values: list[str], allowed: tuple[str, ...]) -> np.ndarray:
    """pyrosm's MultiValue test: the value, or one of its `;`-separated parts, is allowed."""
    return np.array(
        [
            v in allowed or (";" in v and any(p.strip() in allowed for p in v.split(";")))
            for v in values
        ],
        dtype=bool,
    )


def _keep(spec: LayerSpec, tags: Tags) -> np.ndarray:
    """Which elements the layer keeps (pyrosm's keep filter, or the network's exclusions)."""
    keep = np.zeros(tags.n, dtype=bool)
    for key, values in spec.filter.items():
        value = tags.get(key)
        keep |= value >= 0 if values is None else np.isin(value, tags.strings.codes_of(values))
    if spec.network:
        excluded = np.zeros(tags.n, dtype=bool)
        for key, values in spec.exclude.items():
            v = tags.get(key)
            m = np.flatnonzero(keep & (v >= 0))
            if len(m) == 0:
                continue
            # each distinct value once
            uniq, inverse = np.unique(v[m], return_inverse=True)
            text = tags.strings.text
            excluded[m] |= _multi_in([text[c] for c in uniq], values)[inverse]
        return keep & ~excluded
    return keep


def _requested(specs: list[LayerSpec]) -> list[bytes]:
    """The tag keys the layers read: their filters, columns, the streets' exclusions and
    the keys of pyrosm's area rule (the decoder drops every other tag)."""
    from pyrosm.config.polygon_features import POLYGON_FEATURES

    keys = {"area", *POLYGON_FEATURES}
    for s in specs:
        keys |= {*s.filter, *s.columns, *s.exclude}
    return sorted(k.encode() for k in keys)


# --------------------------------------------------------------------------- blobs


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """A protobuf varint at `pos` of `buf` and the position after it; ValueError when cut."""
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def blob_header(header: bytes) -> tuple[bytes, int | None]:
    """`type` (field 1) and `datasize` (field 3, None when absent) of a PBF BlobHeader
    message; ValueError when it is malformed."""
    pos, kind, datasize = 0, b"", None
    while pos < len(header):
        key, pos = read_varint(header, pos)
        field_no, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(header, pos)
            if field_no == 3:
                datasize = value
        elif wire == 2:
            length, pos = read_varint(header, pos)
            if field_no == 1:
                kind = header[pos : pos + length]
            pos += length
        else:
            raise ValueError(f"unexpected wire type {wire}")
    if pos != len(header):
        raise ValueError("BlobHeader overruns its length")
    return kind, datasize


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
            try:
                kind, datasize = blob_header(fh.read(hlen))
            except ValueError:
                raise InputDataError(f"{path}: unreadable blob header at byte {offset:,}") from None
            datasize = datasize or 0
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
        key, pos = read_varint(data, pos)
        if key & 7 == 0:
            fields[key >> 3], pos = read_varint(data, pos)
        elif key & 7 == 2:
            length, pos = read_varint(data, pos)
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
    path: Path,
    batch: np.ndarray,
    keys: list[bytes],
    all_ways: bool,
    first_index: int = 0,
    requested: list[bytes] | None = None,
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
    out = decode(
        buffer,
        starts,
        keys=keys,
        features=True,
        all_ways=all_ways,
        way_strings=True,
        requested=requested,
    )
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
                    requested=requested,
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
    path: Path,
    keys: list[bytes],
    all_ways: Callable[[], bool | None],
    threads: int = THREADS,
    requested: list[bytes] | None = None,
) -> Iterator[tuple[dict, set[int]]]:
    """The decoded batches of the file in file order (decoded ahead on `threads`), with
    the tags of the keys `requested` only (all tags: None). `all_ways()` says whether every
    way's nodes are wanted (None: not known yet, so they are)."""
    batches = _batches(data_blobs(path))
    firsts = np.cumsum([0] + [len(b) for b in batches])

    def every_way() -> bool:
        wanted = all_ways()
        return True if wanted is None else wanted

    if threads <= 1:
        for b, i in zip(batches, firsts, strict=False):
            yield from _decode_batch(path, b, keys, every_way(), int(i), requested)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        ahead = []
        for b, i in zip(batches, firsts, strict=False):
            ahead.append(pool.submit(_decode_batch, path, b, keys, every_way(), int(i), requested))
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
        units = np.rint(deg * 1e7)
        if len(units) and np.abs(units).max() < 2**31:
            packed = units.astype(np.int32)
            if (NodeStore._unpack(packed) == deg).all():  # gives the same floats back
                return packed
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


class Strings:
    """Every distinct tag key and value of the file, each once: its code is its position
    in `text`. Tags are then integer arrays, so filtering them is numpy work that needs no
    Python object and releases the GIL (the ways of two batches are read at once)."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.text: list[str] = []
        self._lock = threading.Lock()

    def intern(self, strings: list[str]) -> np.ndarray:
        """The codes of `strings` (new strings get new codes)."""
        out = np.empty(len(strings), dtype=np.int64)
        with self._lock:
            codes, text = self.codes, self.text
            for i, string in enumerate(strings):
                c = codes.get(string)
                if c is None:
                    c = codes[string] = len(text)
                    text.append(string)
                out[i] = c
        return out

    def table(self, out: dict) -> np.ndarray:
        """The codes of a decoded batch's string table (its strings decoded as pyrosm
        decodes them: UTF-8, errors replaced)."""
        off = out["string_off"].tolist()
        data = out["string_data"].tobytes()
        return self.intern(
            [data[off[i] : off[i + 1]].decode("utf-8", "replace") for i in range(len(off) - 1)]
        )

    def code(self, string: str) -> int:
        """The code of `string`, -1 when the file does not have it."""
        return self.codes.get(string, -1)

    def codes_of(self, strings: Any) -> np.ndarray:
        """The codes of those of `strings` the file has."""
        found = [self.codes.get(s, -1) for s in strings]
        return np.array([c for c in found if c >= 0], dtype=np.int64)

    def array(self) -> np.ndarray:
        with self._lock:
            return np.array(self.text, dtype=object)


@dataclass
class Sparse:
    """A tag column of `n` rows held as its values only: `values[i]` (a string code) at row
    `rows[i]` (ascending), the other rows missing. A country's tag columns are mostly
    empty."""

    n: int
    rows: np.ndarray
    values: np.ndarray

    def take(self, idx: np.ndarray) -> Sparse:
        """The column of the rows `idx` (row i of the result is row idx[i] of this one)."""
        pos = np.full(self.n, -1, dtype=np.int64)
        pos[self.rows] = np.arange(len(self.rows))
        k = pos[idx]
        keep = np.flatnonzero(k >= 0)
        return Sparse(len(idx), keep, self.values[k[keep]])


@dataclass
class Tags:
    """Tags of `n` elements as pairs in the elements' tag order: element `row`, and the
    codes (:class:`Strings`) of the `key` and the `value`."""

    n: int
    row: np.ndarray
    key: np.ndarray
    value: np.ndarray
    strings: Strings
    _by_key: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_ids(
        cls,
        n: int,
        off: np.ndarray,
        key_ids: np.ndarray,
        val_ids: np.ndarray,
        table: np.ndarray,
        strings: Strings,
    ) -> Tags:
        """Tags whose keys and values are ids of a batch's string table, whose codes are
        `table`."""
        row = np.repeat(np.arange(n, dtype=np.int64), np.diff(off))
        return cls(n, row, table[key_ids], table[val_ids], strings)

    @classmethod
    def from_dicts(cls, dicts: list[dict], strings: Strings) -> Tags:
        row = np.repeat(np.arange(len(dicts), dtype=np.int64), [len(d) for d in dicts])
        keys = strings.intern([k for d in dicts for k in d])
        values = strings.intern([v for d in dicts for v in d.values()])
        return cls(len(dicts), row, keys, values, strings)

    def get(self, key: str) -> np.ndarray:
        """The value code of `key` per element (-1 where absent; the last one if repeated)."""
        if key not in self._by_key:
            out = np.full(self.n, -1, dtype=np.int64)
            c = self.strings.code(key)
            if c >= 0:
                m = self.key == c
                out[self.row[m]] = self.value[m]
            self._by_key[key] = out
        return self._by_key[key]

    def sparse(self, key: str) -> Sparse:
        """The value of `key` as a :class:`Sparse` column (the last one if repeated)."""
        c = self.strings.code(key)
        if c < 0:
            return Sparse(self.n, np.empty(0, np.int64), np.empty(0, np.int64))
        m = np.flatnonzero(self.key == c)
        rows = self.row[m]
        last = np.r_[rows[1:] != rows[:-1], True] if len(rows) else np.zeros(0, bool)
        return Sparse(self.n, rows[last], self.value[m[last]])

    def take(self, rows: np.ndarray) -> Tags:
        """The tags of the elements `rows` (ascending positions), in that order."""
        sel = np.zeros(self.n, dtype=bool)
        sel[rows] = True
        rank = np.cumsum(sel) - 1
        keep = sel[self.row]
        return Tags(len(rows), rank[self.row[keep]], self.key[keep], self.value[keep], self.strings)

    def is_area(self) -> np.ndarray:
        """pyrosm's rule for a closed way: an area unless `area=no`, when a tag is one of
        the OSM wiki's polygon features (`pyrosm.config.polygon_features`)."""
        from pyrosm.config.polygon_features import ALL, BLOCKLIST, PASSLIST, POLYGON_FEATURES

        hit = np.zeros(len(self.key), dtype=bool)
        for k, (rule, values) in POLYGON_FEATURES.items():
            c = self.strings.code(k)
            if c < 0:
                continue
            m = self.key == c
            if not m.any():
                continue
            if rule == ALL:
                hit |= m
            elif rule == PASSLIST:
                hit[m] = np.isin(self.value[m], self.strings.codes_of(values))
            elif rule == BLOCKLIST:
                hit[m] = ~np.isin(self.value[m], self.strings.codes_of(values))
        out = np.zeros(self.n, dtype=bool)
        out[self.row[hit]] = True
        no = self.strings.code("no")
        return out & ~(self.get("area") == no) if no >= 0 else out

    def columns(self, columns: tuple[str, ...]) -> dict[str, Sparse]:
        """The value of each key of `columns` per element (the last one if repeated)."""
        return {k: self.sparse(k) for k in columns}


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


def _sub_offsets(off: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Offsets of the ragged rows `rows` of (`off`, values), and their values' positions."""
    counts = np.diff(off)[rows]
    new = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(counts, out=new[1:])
    return new, _ranges(off[:-1][rows], counts)


# GEOS's relative error bound of its floating-point orientation filter (CGAlgorithmsDD)
_DP_SAFE_EPSILON = 1e-15


def rings_ccw(x: np.ndarray, y: np.ndarray, off: np.ndarray) -> np.ndarray:
    """Whether each closed ring (the points `off[i]:off[i + 1]` of `x`, `y`; at least 4)
    is counter-clockwise, as GEOS's `Orientation::isCCW` (`shapely.is_ccw`) says, bit for
    bit.

    GEOS decides at the ring's highest point: the rising segment that reaches it last, the
    falling one after it, and the orientation of those three points (or the direction of a
    flat top). The same steps vectorised here, with no geometry built; the few rings whose
    orientation GEOS's floating-point filter cannot decide are handed to GEOS.
    """
    import shapely

    counts = np.diff(off)
    n = len(counts)
    if n == 0:
        return np.zeros(0, dtype=bool)
    start, close = off[:-1], off[1:] - 1  # the first point, and the closing one (== first)
    index = np.arange(len(x), dtype=np.int64)
    top = y == np.repeat(np.maximum.reduceat(y, start), counts)
    rising = np.zeros(len(x), dtype=bool)
    np.greater(y[1:], y[:-1], out=rising[1:])
    rising[start] = False
    # the last rising point at the highest y (none: the ring is flat)
    up_hi = np.maximum.reduceat(np.where(rising & top, index, -1), start)
    flat = up_hi < 0
    # the first point below the top after it, cyclically over the ring's points but the
    # closing one (after the closing point comes the second)
    low = ~top
    low[close] = False
    after_hi = np.where(up_hi == close, start, up_hi)
    big = np.iinfo(np.int64).max
    after = np.minimum.reduceat(
        np.where(low & (index > np.repeat(after_hi, counts)), index, big), start
    )
    first = np.minimum.reduceat(np.where(low, index, big), start)
    down_low = np.where(after < big, after, first)
    down_low = np.where(flat | (down_low == big), start + 1, down_low)
    down_hi = np.where(down_low > start, down_low - 1, close - 1)
    uh = np.where(flat, start + 1, up_hi)
    # the four points: up-low, the top, down-high (== the top for a pointed cap), down-low
    ulx, uly, uhx, uhy = x[uh - 1], y[uh - 1], x[uh], y[uh]
    dlx, dly, dhx, dhy = x[down_low], y[down_low], x[down_hi], y[down_hi]
    cap = (uhx == dhx) & (uhy == dhy)  # a pointed top: the orientation of ul, uh, dl
    degenerate = (
        ((ulx == uhx) & (uly == uhy))
        | ((dlx == uhx) & (dly == uhy))
        | ((ulx == dlx) & (uly == dly))
    )
    det_left = (ulx - dlx) * (uhy - dly)
    det_right = (uly - dly) * (uhx - dlx)
    det = det_left - det_right
    bound = _DP_SAFE_EPSILON * (np.abs(det_left) + np.abs(det_right))
    sure = (
        ((det_left > 0) & (det_right <= 0))
        | ((det_left < 0) & (det_right >= 0))
        | (det_left == 0)
        | (det >= bound)
        | (-det >= bound)
    )
    out = np.where(cap, ~degenerate & (det > 0), dhx - uhx < 0) & ~flat
    ask = np.flatnonzero(~flat & cap & ~degenerate & ~sure)
    if len(ask):  # GEOS decides these in extended precision
        sub_off, pos = _sub_offsets(off, ask)
        rings = shapely.linearrings(
            x[pos], y[pos], indices=np.repeat(np.arange(len(ask)), np.diff(sub_off))
        )
        out[ask] = shapely.is_ccw(rings)
    return out


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
    as pyrosm orients them (exterior counter-clockwise): the rings are reversed in the
    coordinate arrays before any polygon is made, so each is built once."""
    import shapely
    from shapely import GeometryType

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
    rings = closed_area & complete & (counts >= 4)
    oriented = np.zeros(n, dtype=bool)
    r = np.flatnonzero(rings)
    if len(r):
        points = np.repeat(rings, counts)
        x, y = lon[points], lat[points]
        ring_off = np.zeros(len(r) + 1, dtype=np.int64)
        np.cumsum(counts[r], out=ring_off[1:])
        try:
            cw = ~rings_ccw(x, y, ring_off)
            ring_xy = np.empty((len(x), 2))
            if cw.any():  # reversed: exterior counter-clockwise, as pyrosm orients them
                k = np.arange(len(x), dtype=np.int64)
                back = np.repeat(ring_off[:-1] + ring_off[1:] - 1, counts[r]) - k
                order = np.where(np.repeat(cw, counts[r]), back, k)
                x, y = x[order], y[order]
            ring_xy[:, 0], ring_xy[:, 1] = x, y
            out[r] = shapely.from_ragged_array(
                GeometryType.POLYGON, ring_xy, (ring_off, np.arange(len(r) + 1, dtype=np.int64))
            )
            oriented[r] = True
        except shapely.errors.GEOSException:
            rings[:] = False  # a degenerate ring: every way by the per-way path, as pyrosm
            oriented[:] = False
    lines = ~closed_area & complete & (counts >= 2)
    if lines.any():
        points = np.repeat(lines, counts)
        out[lines] = shapely.linestrings(
            lon[points], lat[points], indices=np.repeat(np.arange(lines.sum()), counts[lines])
        )
    for w in np.flatnonzero(nonempty & ~rings & ~lines):
        a, b = refs_off[w], refs_off[w + 1]
        kept = np.column_stack([lon[a:b], lat[a:b]])[valid[a:b]]
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

    keys = {k for s in specs for k in s.filter}
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
    keys = {k.encode() for s in specs for k in s.filter}
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
        tags = record["tags"]
        for s in rel_specs:
            if any(k in tags and (v is None or tags[k] in v) for k, v in s.filter.items()):
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

    def close(fix: Any) -> bool:  # valid, and the area changed by less than the threshold
        return fix.is_valid and fix.area != 0 and abs(1 - geometry.area / fix.area) < diff_threshold

    fix = geometry.buffer(0)
    if close(fix):
        return fix
    if isinstance(geometry, MultiPolygon):
        return geometry
    ext = geometry.exterior
    fix = MultiPolygon(polygonize(ext.intersection(ext)))
    return fix if close(fix) else geometry


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

    ids = sorted({m[1] for m in record["members"]})
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
    """Rows of one layer from one batch: columns (`id`, the tag columns as :class:`Sparse`,
    `u`, `v`, `length` of street segments) and geometries."""

    kind: str  # node, way, relation
    columns: dict[str, Any]
    geometry: np.ndarray
    order: int = 0  # the batch it came from (batches are processed out of order)
    oriented: np.ndarray | None = None  # polygons already oriented as pyrosm orients them


class _Reader:
    """Turns decoded batches into each layer's parts."""

    def __init__(self, specs: list[LayerSpec]) -> None:
        self.specs = specs
        self.relations: dict[str, list[dict]] = {}
        self.exclude: dict[str, np.ndarray] = {}
        self.member_ids = np.empty(0, np.int64)
        self.nodes = NodeStore()
        self.parts: dict[str, list[_Part]] = {s.name: [] for s in specs}
        self.member_ways: dict[int, np.ndarray] = {}
        self.ways_seen = False
        self.deferred = False  # every batch's nodes are added before any way is read
        self._segment_lengths = _decoder()[2]
        self.strings = Strings()
        self._order = threading.local()
        self._lock = threading.Lock()
        self.pending_rows = 0  # rows in `parts` (a streamed read hands them on)

    def set_relations(self, relations: dict[str, list[dict]]) -> None:
        """The relations each layer keeps (before any way is added): their member ways are
        left out of the layer's ways, and kept aside for the relations' geometries."""
        self.relations = relations
        self.exclude = {
            name: np.unique(
                np.array([m[1] for r in rels for m in r["members"] if m[0] == "w"], np.int64)
            )
            for name, rels in relations.items()
        }
        wanted = [v for v in self.exclude.values() if len(v)]
        self.member_ids = np.unique(np.concatenate(wanted)) if wanted else np.empty(0, np.int64)

    def _add(self, name: str, part: _Part) -> None:
        part.order = getattr(self._order, "order", 0)
        with self._lock:
            self.parts[name].append(part)
            self.pending_rows += len(part.geometry)

    def take(self, before: int | None) -> tuple[dict[str, list[_Part]], np.ndarray]:
        """The parts read so far, taken out of the reader, and the strings of their codes:
        node parts, and way parts of the batches before `before` (all: None).

        A sorted file's node batches all come before its way batches, and the ways of
        batch i are added on a thread once batches before it may still be running, so the
        parts taken, in order, continue the parts of earlier takes: the concatenation of
        their frames (:func:`_frame`) is :func:`read_layers`' frames."""

        def taken(p: _Part) -> bool:
            return before is None or p.kind == "node" or p.order < before

        ready: dict[str, list[_Part]] = {}
        with self._lock:
            for name, parts in self.parts.items():
                ready[name] = [p for p in parts if taken(p)]
                self.parts[name] = [p for p in parts if not taken(p)]
                self.pending_rows -= sum(len(p.geometry) for p in ready[name])
        return ready, self.strings.array()

    # nodes ----------------------------------------------------------------
    def add_nodes(self, out: dict) -> None:
        import shapely

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
            self.strings.table(out),
            self.strings,
        )
        for spec in self.specs:
            if not spec.nodes:
                continue
            keep = np.flatnonzero(_keep(spec, tags))
            if len(keep) == 0:
                continue
            r = rows[keep]
            columns = {"id": out["node_id"][r], **tags.take(keep).columns(spec.columns)}
            points = shapely.points(out["node_lon"][r], out["node_lat"][r])
            self._add(spec.name, _Part("node", columns, points))

    # ways -----------------------------------------------------------------
    def add_ways(self, out: dict, order: int = 0) -> None:
        """Add a decoded batch's ways (thread-safe: the node store is complete by now).

        The nodes of the ways some layer keeps are looked up once, and each way's geometry
        is built once, whichever layers keep it."""
        import shapely

        self._order.order = order
        if len(self.member_ids) and len(out["all_id"]):
            hit = np.flatnonzero(np.isin(out["all_id"], self.member_ids))
            if len(hit):  # the relations' member ways: their nodes with valid locations
                off, pos = _sub_offsets(out["all_refs_off"], hit)
                lon, lat, found = self.nodes.lookup(out["all_refs"][pos])
                ok = _valid_xy(lon, lat, found)
                xy = np.column_stack([lon, lat])
                ids = out["all_id"][hit].tolist()
                for k, a, b in zip(ids, off[:-1].tolist(), off[1:].tolist(), strict=True):
                    self.member_ways[k] = xy[a:b][ok[a:b]]
        n = len(out["way_id"])
        if n == 0:
            return
        tags = Tags.from_ids(
            n,
            out["way_tags_off"],
            out["way_keys"],
            out["way_vals"],
            self.strings.table(out),
            self.strings,
        )
        keeps = {}
        for spec in self.specs:
            if not spec.ways:
                continue
            keep = _keep(spec, tags)
            if spec.relations and len(self.exclude.get(spec.name, ())):
                keep &= ~np.isin(out["way_id"], self.exclude[spec.name])
            if keep.any():
                keeps[spec.name] = keep
        if not keeps:
            return
        specs = [s for s in self.specs if s.name in keeps]
        needed = np.logical_or.reduce([keeps[s.name] for s in specs])
        # the kept ways' nodes: offsets `off` into `refs`, `lon`, `lat`, `valid`
        at = np.full(n, -1, dtype=np.int64)
        way_rows = np.flatnonzero(needed)
        at[way_rows] = np.arange(len(way_rows))
        off, pos = _sub_offsets(out["way_refs_off"], way_rows)
        refs = out["way_refs"][pos]
        lon, lat, found = self.nodes.lookup(refs)
        valid = _valid_xy(lon, lat, found)
        areal = np.logical_or.reduce(
            [keeps[s.name] for s in specs if not s.network] or [np.zeros(n, dtype=bool)]
        )
        if areal.any():
            geo_rows = np.flatnonzero(areal)
            geo_at = np.full(n, -1, dtype=np.int64)
            geo_at[geo_rows] = np.arange(len(geo_rows))
            geo_off, p = _sub_offsets(off, at[geo_rows])
            geoms, oriented = _area_geometries(
                geo_off, refs[p], lon[p], lat[p], valid[p], tags.take(geo_rows).is_area()
            )
        for spec in specs:
            rows = np.flatnonzero(keeps[spec.name])
            columns = {"id": out["way_id"][rows], **tags.take(rows).columns(spec.columns)}
            if spec.network:
                seg_off, p = _sub_offsets(off, at[rows])
                way, u, v, start, end = _segments(seg_off, refs[p], lon[p], lat[p], valid[p])
                columns = {
                    k: a.take(way) if isinstance(a, Sparse) else a[way] for k, a in columns.items()
                }
                columns.update(u=u, v=v, length=self._segment_lengths(start, end))
                geom = (
                    shapely.linestrings(np.stack([start, end], axis=1))
                    if len(start)
                    else np.empty(0, dtype=object)
                )
                self._add(spec.name, _Part("way", columns, geom))
            else:
                k = geo_at[rows]
                self._add(spec.name, _Part("way", columns, geoms[k], oriented=oriented[k]))

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
            tags = Tags.from_dicts([r["tags"] for r in kept], self.strings)
            columns = {
                "id": np.array([r["id"] for r in kept], dtype=np.int64),
                **tags.columns(spec.columns),
            }
            geom = np.empty(len(geoms), dtype=object)
            geom[:] = geoms
            self._add(spec.name, _Part("relation", columns, geom))


class _Unsorted(Exception):
    """A node came after a way: the file is not sorted (read again, ways kept to the end)."""


# --------------------------------------------------------------------------- frames


_OSM_TYPES = ("node", "way", "relation")


def _frame(spec: LayerSpec, parts: list[_Part], text: np.ndarray):
    """The layer's GeoDataFrame from its parts (or None when it has no row): nodes, ways,
    relations, each in file order, as pyrosm orders them; columns `id`, `osm_type`, the
    spec's tag columns (categoricals, or text; `text` the strings of the codes), and `u`,
    `v`, `length` for the streets."""
    import geopandas as gpd
    import shapely

    parts = sorted(parts, key=lambda p: p.order)
    ps = [p for kind in _OSM_TYPES for p in parts if p.kind == kind and len(p.geometry)]
    if not ps:
        return None
    lengths = np.array([len(p.geometry) for p in ps], dtype=np.int64)
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    geom = np.concatenate([p.geometry for p in ps]) if len(ps) > 1 else ps[0].geometry
    oriented = np.concatenate(
        [np.zeros(len(p.geometry), bool) if p.oriented is None else p.oriented for p in ps]
    )
    kind = np.repeat(np.array([_OSM_TYPES.index(p.kind) for p in ps], dtype=np.int8), lengths)
    keep = None
    if not spec.network:
        ok = ~shapely.is_missing(geom)
        if not ok.all():
            keep = ok
            geom, oriented, kind = geom[ok], oriented[ok], kind[ok]
    if len(geom) == 0:
        return None
    n = len(geom)
    # new row of each old row (or -1 when its geometry is missing)
    remap = None if keep is None else np.where(keep, np.cumsum(keep) - 1, -1)
    data: dict[str, Any] = {}
    for c in ("id", *(("u", "v", "length") if spec.network else ())):
        v = np.concatenate([p.columns[c] for p in ps])
        data[c] = v if keep is None else v[keep]
    types = np.array(_OSM_TYPES, dtype=object)
    data["osm_type"] = (
        pd.Categorical.from_codes(kind, dtype=pd.CategoricalDtype(list(_OSM_TYPES)))
        if spec.categorical
        else pd.array(types[kind], dtype="str")
    )
    for c in spec.columns:
        rows = np.concatenate([p.columns[c].rows + s for p, s in zip(ps, starts, strict=True)])
        values = np.concatenate([p.columns[c].values for p in ps])
        if remap is not None:
            rows = remap[rows]
            ok = rows >= 0
            rows, values = rows[ok], values[ok]
        data[c] = _tag_column(n, rows, values, text, spec.categorical and c not in FREE_TEXT)
    # the polygons not oriented yet (relations, ways with a node missing) as pyrosm does
    rest = np.flatnonzero(~oriented) if not spec.network else np.empty(0, np.int64)
    polygonal = rest[np.isin(shapely.get_type_id(geom[rest]), [3, 6, 7])]
    if len(polygonal):
        geom = geom.copy()
        geom[polygonal] = shapely.orient_polygons(geom[polygonal], exterior_cw=False)
    order = ["id", "osm_type", *spec.columns, *(("u", "v", "length") if spec.network else ())]
    columns = {c: data[c] for c in order}
    # the geometry in the columns given: no block consolidation (a copy of every column)
    columns["geometry"] = gpd.array.from_shapely(geom, crs="EPSG:4326")
    return gpd.GeoDataFrame(columns, geometry="geometry", copy=False)


def _tag_column(
    n: int, rows: np.ndarray, codes: np.ndarray, text: np.ndarray, categorical: bool
) -> Any:
    """A column of `n` rows with the strings `text[codes]` at `rows`, missing elsewhere: a
    categorical (codes of 1-4 bytes a row, categories sorted) or a text array."""
    if not categorical:
        # the values once, spread to the rows by Arrow (a column of millions of rows,
        # mostly missing, is not built from a Python object a row)
        import pyarrow as pa

        at = np.full(n, -1, dtype=np.int64)
        at[rows] = np.arange(len(rows))
        values = pa.array(text[codes], type=pa.large_string())
        return pd.array(values.take(pa.array(at, mask=at < 0)), dtype="str")
    # the strings used, sorted; each code's rank among them (a table, not a sort of rows)
    seen = np.zeros(len(text), dtype=bool)
    seen[codes] = True
    used = np.flatnonzero(seen)
    names = text[used]
    order = np.argsort(names, kind="stable")
    k = len(used)
    width = np.int8 if k < 2**7 else np.int16 if k < 2**15 else np.int32
    rank = np.zeros(len(text), dtype=width)
    rank[used[order]] = np.arange(k, dtype=width)
    full = np.full(n, -1, dtype=width)
    full[rows] = rank[codes]
    categories = pd.Index(names[order], dtype="str")
    return pd.Categorical.from_codes(full, dtype=pd.CategoricalDtype(categories))


# --------------------------------------------------------------------------- entry points


def release_memory() -> None:
    """Give freed memory back to the system: glibc's heaps and Arrow's pool.

    Neither gives freed pages back on its own: glibc keeps what other threads freed (after
    a large read the decoder threads' heaps hold hundreds of MB this process no longer
    uses; `malloc_trim` returns them, a no-op where glibc is not the allocator), and
    Arrow's allocator keeps its segments, so a country's run would carry each stage's
    temporaries into the next. Costs a millisecond or so: skipped while the process holds
    less than `RELEASE_MIN_RSS_BYTES` (a small study's ~20 ms over its stages, for nothing).
    """
    if _resident_bytes() < RELEASE_MIN_RSS_BYTES:
        return
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
    pa = sys.modules.get("pyarrow")  # only when something imported it
    if pa is not None:
        pa.default_memory_pool().release_unused()


RELEASE_MIN_RSS_BYTES = 512 * 2**20


def _resident_bytes() -> int:
    """This process's resident memory (Linux; elsewhere a size that always releases)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return RELEASE_MIN_RSS_BYTES


_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Any:
    """glibc's `malloc_trim`, or None (found once: `find_library` runs a subprocess)."""
    import ctypes
    import ctypes.util

    for find in (lambda: "libc.so.6", lambda: ctypes.util.find_library("c")):
        name = find()
        if not name:
            continue
        try:
            return ctypes.CDLL(name).malloc_trim
        except (OSError, AttributeError):
            continue
    return None


def read_layers(path: str | Path, streets: bool = True, threads: int = THREADS) -> dict[str, Any]:
    """The raw layers of `read_osm` from one pass over the PBF `path`.

    Returns a dict: `streets`, `railways` (None when `streets` is False), `buildings`,
    `pipes`, `plants`, `landuse`, `dc`, `addresses`, `power` and `exclusions`, each a
    GeoDataFrame in EPSG:4326 with the rows of pyrosm's read of that layer and the columns
    of its :class:`LayerSpec` (`id`, `osm_type`, the tags kept), or None when it has no row.
    """
    with _no_cyclic_gc():
        return _read_layers(Path(path), streets, threads)


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Python's cyclic garbage collector off: it would walk the millions of geometry
    objects a read makes again and again (a third of the read); the reader makes no
    reference cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def stream_layers(
    path: str | Path,
    sink: LayerSink,
    streets: bool = True,
    threads: int = THREADS,
    flush_rows: int = FLUSH_ROWS,
) -> None:
    """Read the PBF `path` as :func:`read_layers` does, handing the layers on in chunks.

    Whenever `flush_rows` rows are waiting, `sink.write(layers)` gets them: a dict like
    :func:`read_layers`' (a layer None when the chunk has none of it). Written in order,
    each layer's chunks make :func:`read_layers`' frame of it (its rows, in its order), so
    memory holds one chunk of features and the node locations, not the whole file's
    features. `sink.reset()` is called when the file must be read again from its start
    (an unsorted file, relations outside its tail): the chunks written so far are void.
    """
    with _no_cyclic_gc():
        _read_layers(Path(path), streets, threads, sink=sink, flush_rows=flush_rows)


class _Handover:
    """Hands taken parts to a sink on one background thread: their frames are built and
    written (numpy, shapely, Arrow: mostly without the GIL) while the next batches are
    decoded. At most one chunk waits; a sink's error is raised at the next hand-over."""

    def __init__(self, sink: LayerSink, specs: list[LayerSpec], streets: bool) -> None:
        self.sink, self.specs, self.streets = sink, specs, streets
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.last: Any = None

    def _write(self, parts: dict[str, list[_Part]], text: np.ndarray) -> None:
        self.sink.write(_frames(self.specs, parts, text, self.streets))
        release_memory()

    def put(self, parts: dict[str, list[_Part]], text: np.ndarray) -> None:
        self.wait()
        self.last = self.pool.submit(self._write, parts, text)

    def wait(self) -> None:
        if self.last is not None:
            last, self.last = self.last, None
            last.result()

    def reset(self) -> None:
        self.wait()
        self.sink.reset()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self.pool.shutdown()


class LayerSink:
    """What :func:`stream_layers` writes its chunks to (a protocol; see `stream.py`)."""

    def write(self, layers: dict[str, Any]) -> None:  # pragma: no cover - protocol
        raise NotImplementedError

    def reset(self) -> None:  # pragma: no cover - protocol
        raise NotImplementedError


def _read_layers(
    path: Path,
    streets: bool,
    threads: int,
    sink: LayerSink | None = None,
    flush_rows: int = FLUSH_ROWS,
) -> dict[str, Any] | None:
    specs = layer_specs(streets)
    hand = _Handover(sink, specs, streets) if sink is not None else None
    flush = None
    if hand is not None:

        def flush(reader: _Reader, before: int) -> None:
            if reader.pending_rows >= flush_rows:
                hand.put(*reader.take(before))

    try:
        return _read_into(path, specs, streets, threads, hand, flush)
    finally:
        if hand is not None:
            hand.close()


def _read_into(
    path: Path,
    specs: list[LayerSpec],
    streets: bool,
    threads: int,
    hand: _Handover | None,
    flush: Callable[[_Reader, int], None] | None,
) -> dict[str, Any] | None:
    keys = sorted({k.encode() for s in specs for k in s.filter})
    with ThreadPoolExecutor(max_workers=1) as pool:
        # the relations in the file's last blocks, read while the nodes are decoded
        tail = pool.submit(_tail_relations, path, specs)

        def from_tail() -> tuple[dict[str, list[dict]], set[int] | None]:
            found = tail.result()
            if found is None:
                raise _RelationsElsewhere()
            return _read_relations(iter(found[0]), specs), found[1]

        def everywhere() -> tuple[dict[str, list[dict]], set[int] | None]:
            return _read_relations(_relation_records(path, specs), specs), None

        for relations in (from_tail, everywhere):
            try:
                try:
                    reader = _run(path, specs, relations, keys, threads, False, flush)
                except _Unsorted:
                    log.info("%s is not sorted (nodes after ways); reading it again", path)
                    if hand is not None:
                        hand.reset()
                    reader = _run(path, specs, relations, keys, threads, True, flush)
                break
            except _RelationsElsewhere:
                log.info("%s has relations before its last blocks; reading them first", path)
                if hand is not None:
                    hand.reset()
    reader.nodes = NodeStore()  # the locations are in the geometries now
    reader.relation_parts()
    if hand is not None:
        hand.put(*reader.take(None))
        hand.wait()
        return None
    text = reader.strings.array()
    release_memory()
    out = _frames(specs, reader.parts, text, streets)
    del reader
    release_memory()
    return out


def _frames(
    specs: list[LayerSpec], parts: dict[str, list[_Part]], text: np.ndarray, streets: bool
) -> dict[str, Any]:
    """Each layer's frame (:func:`_frame`), its parts popped from `parts` as it is made (so
    they go as soon as their frame holds them); streets and railways None unless read."""
    out = {s.name: _frame(s, parts.pop(s.name), text) for s in specs}
    if not streets:
        out["streets"] = out["railways"] = None
    return out


def _run(
    path: Path,
    specs: list[LayerSpec],
    relations: Callable[[], tuple[dict[str, list[dict]], set[int] | None]],
    keys: list[bytes],
    threads: int,
    deferred: bool,
    flush: Callable[[_Reader, int], None] | None = None,
) -> _Reader:
    """Decode the file and feed the reader: nodes here, ways on `threads` worker threads.

    `relations()` gives the relations each layer keeps and the blobs they are in (None:
    anywhere); it is asked when the first way comes (the nodes are decoded meanwhile).
    `flush(reader, before)` is called after each batch, `before` the first batch whose
    ways may not be added yet (a streamed read hands the parts before it on).
    Raises _Unsorted when a node follows a way, and _RelationsElsewhere when a relation
    block lies outside those blobs."""
    reader = _Reader(specs)
    reader.deferred = deferred
    known: list[set[int] | None] = []  # the relation blobs, once the relations are known
    handed_back: set[int] = set()  # blocks the batch decoder handed back (relations)

    def check() -> None:
        if known and known[0] is not None and not handed_back <= known[0]:
            raise _RelationsElsewhere()

    def resolve() -> None:
        if not known:
            rels, blobs = relations()
            reader.set_relations(rels)
            known.append(blobs)
        check()

    def all_ways() -> bool | None:
        return len(reader.member_ids) > 0 if known else None

    pending: list[tuple[int, dict]] = []
    with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
        futures: list[tuple[int, Any]] = []
        try:
            decoded = _decoded(path, keys, all_ways, threads, _requested(specs))
            for i, (out, back) in enumerate(decoded):
                handed_back.update(back)
                check()
                if deferred:
                    if len(out["node_id"]) or len(out["feature_row"]):
                        reader.add_nodes(out)
                    pending.append((i, out))
                    continue
                reader.add_nodes(out)
                if len(out["way_id"]) or len(out["all_id"]):
                    resolve()
                    reader.ways_seen = reader.ways_seen or len(out["way_id"]) > 0
                    futures.append((i, pool.submit(reader.add_ways, out, i)))
                    # at most `threads` batches wait for the ways' threads (memory)
                    while sum(not f.done() for _, f in futures) > max(threads, 1):
                        next(f for _, f in futures if not f.done()).result()
                if flush is not None:
                    done = [(j, f) for j, f in futures if f.done()]
                    for _, f in done:
                        f.result()  # a thread's error is raised here
                    futures = [x for x in futures if x not in done]
                    flush(reader, futures[0][0] if futures else i + 1)
            resolve()
        finally:
            for _, fut in futures:
                fut.result()
        later = [(i, pool.submit(reader.add_ways, out, i)) for i, out in pending]
        pending.clear()
        for i, fut in later:
            fut.result()
            if flush is not None:
                flush(reader, i + 1)
    return reader


class _RelationsElsewhere(Exception):
    """A relation block that is not in the file's tail (read all relations with libosmium)."""


__all__ = [
    "LayerSpec",
    "NodeStore",
    "available",
    "data_blobs",
    "layer_specs",
    "LayerSink",
    "read_layers",
    "release_memory",
    "stream_layers",
]
