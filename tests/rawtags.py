"""A raw snapshot of everything in an audio file that is not the genre, parsed without mutagen.

mutagen's easy view (and even its full view) hides exactly the damage a tag
writer can do: it merges ID3v1 into ID3v2, upgrades v2.3 frames to v2.4 on
load, drops frames it cannot parse, normalises encodings and key spellings.
So this module reads the bytes itself, independently of ``tagger.tags``:

* every ID3v2 tag in the file (wherever it sits: at the start of an MP3, in a
  WAV/AIFF chunk, trailing): version, header flags, extended header, and each
  frame in order with its id, flags and raw bytes (unknown, unparsable and
  empty frames included); padding is not content;
* the ID3v1 block and every APEv2 tag, as bytes;
* Vorbis comments (FLAC block, Ogg Vorbis/Opus/FLAC packet): the vendor
  string and every ``key=value`` pair in order, as bytes, with what follows;
* FLAC metadata blocks other than padding (pictures, STREAMINFO, seek table,
  application blocks...) as bytes, and the audio frames after them;
* Ogg: every packet of every logical stream, with the granule positions;
* MP4: the atom tree (leaf atoms as bytes), every ``ilst`` item in order, the
  ``mdat`` payload and the chunk offsets relative to it; ``free`` atoms are
  padding;
* ASF: every header object as bytes, every attribute of the content
  description, extended content description, metadata and metadata library
  objects in order; the data object's payload;
* RIFF/AIFF chunks in order (the ID3 chunk is covered above);
* and every decoded sample (PyAV), hashed.

``without_genre`` removes the genre field (TCON frames, GENRE pairs, ``©gen``
and ``gnre`` items, ``WM/Genre`` attributes) so a write can be checked to have
changed nothing else; an undo must give back the full snapshot unchanged.
"""

from __future__ import annotations

import copy
import hashlib
import struct
from pathlib import Path

import mutagen
import numpy as np

GENRE_FRAMES = {b"TCON", b"TCO"}
GENRE_MP4 = {b"\xa9gen", b"gnre"}
GENRE_ASF = "WM/Genre"
# Each written field's keys, spelled here on their own (ID3 frames, the Vorbis key, MP4 items,
# the ASF attribute), so that the oracle does not read them from the code under test.
FIELD_KEYS = {
    "genre": (GENRE_FRAMES, "GENRE", GENRE_MP4, GENRE_ASF),
    "bpm": ({b"TBPM", b"TBP"}, "BPM", {b"tmpo"}, "WM/BeatsPerMinute"),
}


def _h(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


# --- ID3 ----------------------------------------------------------------------------------
def _syncsafe(b: bytes) -> int:
    return (b[0] << 21) | (b[1] << 14) | (b[2] << 7) | b[3]


def _id3_header_at(data: bytes, pos: int) -> int | None:
    """Total size (header + body + footer) of a plausible ID3v2 tag at ``pos``, else None."""
    head = data[pos : pos + 10]
    if len(head) < 10 or head[:3] != b"ID3" or head[3] not in (2, 3, 4) or head[4] == 0xFF:
        return None
    if any(b >= 0x80 for b in head[6:10]):
        return None
    size = _syncsafe(head[6:10]) + 10 + (10 if head[3] == 4 and head[5] & 0x10 else 0)
    return size if pos + size <= len(data) else None


def _walk_frames(body: bytes, version: int, syncsafe: bool) -> tuple[list, bytes]:
    hlen, idlen = (6, 3) if version == 2 else (10, 4)
    frames, pos = [], 0
    while pos + hlen <= len(body):
        fid = body[pos : pos + idlen]
        if not all(48 <= c <= 57 or 65 <= c <= 90 for c in fid):
            break
        if version == 2:
            size, flags = int.from_bytes(body[pos + 3 : pos + 6], "big"), b""
        else:
            raw = body[pos + 4 : pos + 8]
            size = _syncsafe(raw) if syncsafe else int.from_bytes(raw, "big")
            flags = body[pos + 8 : pos + 10]
        if pos + hlen + size > len(body):
            break
        frames.append((fid, flags, body[pos + hlen : pos + hlen + size]))
        pos += hlen + size
    return frames, body[pos:]


def _unsync_decode(data: bytes) -> bytes:
    return data.replace(b"\xff\x00", b"\xff")


def parse_id3(tag: bytes) -> dict:
    version, flags = tag[3], tag[5]
    body = tag[10 : 10 + _syncsafe(tag[6:10])]
    if version == 3 and flags & 0x80:
        body = _unsync_decode(body)
    ext = b""
    if flags & 0x40 and version in (3, 4):
        n = int.from_bytes(body[:4], "big") + 4 if version == 3 else _syncsafe(body[:4])
        ext, body = body[:n], body[n:]
        if version == 3 and len(ext) >= 10:
            ext = ext[:6]  # the padding-size field that follows is layout, not content
    frames, rest = _walk_frames(body, version, syncsafe=version == 4)  # v2.3: plain sizes
    if version == 4:
        alt, alt_rest = _walk_frames(body, version, syncsafe=False)
        if len(alt_rest.strip(b"\x00")) < len(rest.strip(b"\x00")):
            frames, rest = alt, alt_rest  # iTunes wrote plain integers
    return {
        "version": (2, version),
        "flags": flags & ~0x10,
        "extended": ext.hex(),
        "frames": [(fid.decode(), fl.hex(), data.hex()) for fid, fl, data in frames],
        "junk": rest.rstrip(b"\x00").hex(),
    }


def id3_tags(data: bytes) -> list[tuple[int, dict]]:
    out, pos = [], data.find(b"ID3")
    while pos >= 0:
        size = _id3_header_at(data, pos)
        if size:
            out.append((pos, parse_id3(data[pos : pos + size])))
            pos = data.find(b"ID3", pos + size)
        else:
            pos = data.find(b"ID3", pos + 1)
    return out


def tail_tags(data: bytes) -> dict:
    """The ID3v1 block and APEv2 tags (footers found anywhere), as bytes."""
    out: dict = {"id3v1": data[-128:].hex() if data[-128:-125] == b"TAG" else None, "apev2": []}
    pos = data.find(b"APETAGEX")
    while pos >= 0:
        size = int.from_bytes(data[pos + 12 : pos + 16], "little") if len(data) >= pos + 32 else 0
        flags = int.from_bytes(data[pos + 20 : pos + 24], "little") if len(data) >= pos + 32 else 0
        if not flags & 0x20000000:  # a footer: items precede it
            out["apev2"].append(data[max(0, pos + 32 - size) : pos + 32].hex())
        pos = data.find(b"APETAGEX", pos + 8)
    return out


# --- Vorbis comments ----------------------------------------------------------------------
def parse_vorbis(block: bytes) -> dict:
    """Vendor, every pair as raw bytes in order, and what follows (framing bit, extra data)."""
    n = int.from_bytes(block[:4], "little")
    vendor, pos = block[4 : 4 + n], 4 + n
    count = int.from_bytes(block[pos : pos + 4], "little")
    pos += 4
    pairs = []
    for _ in range(count):
        if pos + 4 > len(block):  # a count past the block (damage): as far as pairs go
            break
        n = int.from_bytes(block[pos : pos + 4], "little")
        pairs.append(block[pos + 4 : pos + 4 + n].decode("utf-8", "surrogateescape"))
        pos += 4 + n
    # Zero bytes after the pairs are padding (layout), anything else is content.
    return {
        "vendor": block[: 4 + len(vendor)].hex(),
        "pairs": pairs,
        "after": block[pos:].rstrip(b"\x00").hex(),
    }


def parse_flac(data: bytes, start: int) -> dict:
    pos, blocks, vorbis = start + 4, [], None
    while pos + 4 <= len(data):
        head = data[pos]
        kind, size = head & 0x7F, int.from_bytes(data[pos + 1 : pos + 4], "big")
        if kind == 4:  # like libFLAC, read comments by their contents, not the declared size
            end = pos + 8 + int.from_bytes(data[pos + 4 : pos + 8], "little")
            count = int.from_bytes(data[end : end + 4], "little")
            end += 4
            for _ in range(count):
                end += 4 + int.from_bytes(data[end : end + 4], "little")
            size = end - pos - 4
        elif kind == 6:
            end = pos + 8
            for _ in range(2):
                end += 4 + int.from_bytes(data[end : end + 4], "big")
            end += 16
            end += 4 + int.from_bytes(data[end : end + 4], "big")
            size = end - pos - 4
        body = data[pos + 4 : pos + 4 + size]
        if kind == 4:
            vorbis = parse_vorbis(body)
            blocks.append(("VORBIS_COMMENT", ""))
        elif kind != 1:
            blocks.append((kind, _h(body)))
        pos += 4 + size
        if head & 0x80 or kind == 0x7F:
            break
    return {"blocks": blocks, "vorbis": vorbis, "frames": _h(data[pos:])}


def parse_ogg(data: bytes) -> dict:
    streams: dict[int, dict] = {}
    pos = 0
    while True:
        pos = data.find(b"OggS", pos)
        if pos < 0 or pos + 27 > len(data):
            break
        nseg = data[pos + 26]
        lacing = data[pos + 27 : pos + 27 + nseg]
        granule, serial = struct.unpack("<qI", data[pos + 6 : pos + 18])
        s = streams.setdefault(serial, {"packets": [], "partial": b"", "granules": []})
        body = pos + 27 + nseg
        for lace in lacing:
            s["partial"] += data[body : body + lace]
            body += lace
            if lace < 255:
                s["packets"].append(s["partial"])
                s["partial"] = b""
        s["granules"].append(granule)
        pos = body
    out = {}
    for serial, s in streams.items():
        packets, vorbis = [], None
        for i, p in enumerate(s["packets"]):
            if vorbis is None and i <= 1:
                for magic, cut in ((b"\x03vorbis", 7), (b"OpusTags", 8), (b"\x84", 4)):
                    if p.startswith(magic) and (magic != b"\x84" or p[1:4] != b"\x00\x00\x00"):
                        vorbis = parse_vorbis(p[cut:])
                        break
                if vorbis is not None:
                    continue
            packets.append(_h(p))
        # Page layout (how packets are split) may change with the comment size; the granule
        # of the last page and the packets themselves may not.
        out[serial] = {"packets": packets, "vorbis": vorbis, "last_granule": s["granules"][-1]}
    return {"streams": list(out.values())}


# --- MP4 ----------------------------------------------------------------------------------
_MP4_CONTAINERS = {
    b"moov",
    b"udta",
    b"trak",
    b"mdia",
    b"minf",
    b"stbl",
    b"dinf",
    b"edts",
    b"moof",
    b"traf",
    b"mvex",
    b"ilst",
    b"meta",
    b"tref",
}


def _mp4_atoms(data: bytes, start: int, end: int):
    pos = start
    while pos + 8 <= end:
        size, name = struct.unpack(">I4s", data[pos : pos + 8])
        hlen = 8
        if size == 1:
            size, hlen = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        if size < hlen or pos + size > end:
            yield name, pos + hlen, end, True
            return
        yield name, pos + hlen, pos + size, False
        pos += size


def parse_mp4(data: bytes) -> dict:
    items: list = []
    mdat: list = []

    def tree(start: int, end: int, parent: bytes) -> list:
        out = []
        for name, a, b, broken in _mp4_atoms(data, start, end):
            if name == b"free" or name == b"skip":
                continue
            if name == b"mdat":
                mdat.append((a, b))
                out.append(("mdat", _h(data[a:b])))
            elif parent == b"ilst":
                items.append((name.decode("latin-1"), data[a:b].hex()))
            elif name == b"meta":
                out.append(("meta", data[a : a + 4].hex(), tree(a + 4, b, name)))
            elif name in _MP4_CONTAINERS and not broken:
                out.append((name.decode("latin-1"), tree(a, b, name)))
            elif name in (b"stco", b"co64"):
                out.append((name.decode("latin-1"), ("offsets", a)))
            else:
                out.append((name.decode("latin-1"), _h(data[a:b])))
        return out

    atoms = tree(0, len(data), b"")
    base = mdat[0][0] if mdat else 0

    def offsets(node):  # chunk offsets relative to the first mdat payload
        if (
            isinstance(node, tuple)
            and len(node) == 2
            and node[0] in ("stco", "co64")
            and isinstance(node[1], tuple)
        ):
            a = node[1][1]
            n = int.from_bytes(data[a + 4 : a + 8], "big")
            width = 4 if node[0] == "stco" else 8
            return (
                node[0],
                [
                    int.from_bytes(data[a + 8 + i * width : a + 8 + (i + 1) * width], "big") - base
                    for i in range(n)
                ],
            )
        if isinstance(node, (list, tuple)):
            return type(node)(offsets(x) for x in node)
        return node

    return {"atoms": offsets(atoms), "items": items}


# --- ASF ----------------------------------------------------------------------------------
_ASF_HEADER = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_ASF_EXT = bytes.fromhex("b503bf5f2ea9cf118ee300c00c205365")
_ASF_FILEPROPS = bytes.fromhex("a1dcab8c47a9cf118ee400c00c205365")
_ASF_PADDING = bytes.fromhex("74d40618dfca0945a4ba9aabcb96aae8")
_ASF_CONTENT = bytes.fromhex("3326b2758e66cf11a6d900aa0062ce6c")
_ASF_EXT_CONTENT = bytes.fromhex("40a4d0d207e3d21197f000a0c95ea850")
_ASF_METADATA = bytes.fromhex("eacbf8c5af5b77488467aa8c44fa4cca")
_ASF_METALIB = bytes.fromhex("941c23449894d149a1411d134e457054")


def _asf_attributes(guid: bytes, body: bytes) -> list:
    out = []
    if guid == _ASF_EXT_CONTENT:
        count, pos = struct.unpack("<H", body[:2])[0], 2
        for _ in range(count):
            n = struct.unpack("<H", body[pos : pos + 2])[0]
            name = body[pos + 2 : pos + 2 + n]
            vtype, vlen = struct.unpack("<HH", body[pos + 2 + n : pos + 6 + n])
            value = body[pos + 6 + n : pos + 6 + n + vlen]
            out.append((name.decode("utf-16-le", "replace").rstrip("\x00"), vtype, value.hex()))
            pos += 6 + n + vlen
    else:  # metadata / metadata library: lang, stream, name length, type, data length
        count, pos = struct.unpack("<H", body[:2])[0], 2
        for _ in range(count):
            lang, stream, nlen, vtype, vlen = struct.unpack("<HHHHI", body[pos : pos + 12])
            name = body[pos + 12 : pos + 12 + nlen]
            value = body[pos + 12 + nlen : pos + 12 + nlen + vlen]
            out.append(
                (
                    name.decode("utf-16-le", "replace").rstrip("\x00"),
                    vtype,
                    value.hex(),
                    lang,
                    stream,
                )
            )
            pos += 12 + nlen + vlen
    return out


def parse_asf(data: bytes) -> dict:
    header_size = struct.unpack("<Q", data[16:24])[0]
    objects, attributes = [], {}

    def walk(start: int, end: int) -> None:
        pos = start
        while pos + 24 <= end:
            guid, size = data[pos : pos + 16], struct.unpack("<Q", data[pos + 16 : pos + 24])[0]
            if size < 24:
                break
            body = data[pos + 24 : pos + size]
            if guid == _ASF_EXT:
                objects.append(("ext", body[:18].hex()))
                walk(pos + 24 + 22, pos + size)
            elif guid in (_ASF_EXT_CONTENT, _ASF_METADATA, _ASF_METALIB):
                attributes[guid.hex()] = _asf_attributes(guid, body)
                objects.append(("attributes", guid.hex()))
            elif guid == _ASF_FILEPROPS:  # the file-size field follows the file
                objects.append((guid.hex(), _h(body[:16] + body[24:])))
            elif guid != _ASF_PADDING:
                objects.append((guid.hex(), _h(body)))
            pos += size

    walk(30, header_size)
    return {"objects": objects, "attributes": attributes, "rest": _h(data[header_size:])}


# --- RIFF / AIFF ----------------------------------------------------------------------------
def parse_iff(data: bytes) -> dict:
    little = data[:4] == b"RIFF"
    chunks, pos = [], 12
    while pos + 8 <= len(data):
        cid = data[pos : pos + 4]
        size = int.from_bytes(data[pos + 4 : pos + 8], "little" if little else "big")
        if cid.strip().upper() != b"ID3":
            chunks.append((cid.decode("latin-1"), _h(data[pos + 8 : pos + 8 + size])))
        pos += 8 + size + (size & 1)
    return {"form": data[8:12].decode("latin-1"), "chunks": chunks, "trailing": _h(data[pos:])}


# --- the snapshot ---------------------------------------------------------------------------
def decoded_audio(path: Path) -> str:
    """Hash of every decoded sample of the first audio stream (or why it cannot be decoded)."""
    import av

    h = hashlib.sha256()
    try:
        # Tag text that is not valid UTF-8 (a damaged genre a write then replaces) must not
        # make the audio look undecodable: the samples are what this compares.
        with av.open(str(path), metadata_errors="ignore") as c:
            for frame in c.decode(audio=0):
                h.update(frame.to_ndarray().tobytes())
    except Exception as exc:  # a file FFmpeg cannot decode must stay so
        return f"undecodable: {type(exc).__name__}"
    return h.hexdigest()[:16]


def snapshot(path: Path) -> dict:
    data = Path(path).read_bytes()
    snap: dict = {
        "id3v2": [t for _, t in id3_tags(data)],
        **tail_tags(data),
        "audio": decoded_audio(path),
    }
    start = 0
    while _id3_header_at(data, start):  # leading (possibly stacked) ID3v2 tags
        start += _id3_header_at(data, start)
    if data[start : start + 4] == b"fLaC":
        snap["flac"] = parse_flac(data, start)
    elif data.startswith(b"OggS"):
        snap["ogg"] = parse_ogg(data)
    elif data[4:8] == b"ftyp":
        snap["mp4"] = parse_mp4(data)
    elif data.startswith(_ASF_HEADER):
        snap["asf"] = parse_asf(data)
    elif data[:4] in (b"RIFF", b"FORM"):
        snap["iff"] = parse_iff(data)
    else:  # MP3, AAC: the bytes between the leading ID3 tags and the trailing tags
        end = len(data)
        if snap["id3v1"]:
            end -= 128
        snap["stream"] = _h(data[start:end])
    return snap


def _txxx_description(data: bytes) -> str:
    """The description of a TXXX frame's body (its encoding byte, then the description)."""
    enc, text = data[0], data[1:]
    if enc in (1, 2):
        for i in range(0, len(text) - 1, 2):
            if text[i : i + 2] == b"\x00\x00":
                return text[:i].decode("utf-16" if enc == 1 else "utf-16-be", "replace")
        return ""
    return text.split(b"\x00", 1)[0].decode("latin-1" if enc == 0 else "utf-8", "replace")


def _user_key(field: str) -> str | None:
    """The user's key of a ``voice:KEY`` field, None for a declared field."""
    return field.split(":", 1)[1] if field.startswith("voice:") else None


def without_genre(snap: dict, field: str = "genre") -> dict:
    """The snapshot with the genre field (or ``field``; ``voice:KEY``: a TXXX frame, comment,
    free-form item or attribute named KEY) taken out; a tag holding nothing else is dropped."""
    key = _user_key(field)
    if key is not None:
        frames, vorbis_key, mp4_items, asf_key = set(), key.upper(), set(), key
    else:
        frames, vorbis_key, mp4_items, asf_key = FIELD_KEYS[field]

    def ours_id3(f: tuple) -> bool:
        if key is not None:
            return f[0] in ("TXXX", "TXX") and _txxx_description(bytes.fromhex(f[2])) == key
        return f[0].encode() in frames

    def ours_mp4(item: tuple) -> bool:
        if key is not None:
            return item[0] == "----" and b"name\x00\x00\x00\x00" + key.encode() in bytes.fromhex(
                item[1]
            )
        return item[0].encode("latin-1") in mp4_items

    s = copy.deepcopy(snap)
    tags = []
    for t in s["id3v2"]:
        t["frames"] = [f for f in t["frames"] if not ours_id3(f)]
        if t["frames"] or t["extended"] or t["junk"]:
            tags.append(t)
    s["id3v2"] = tags
    for v in _vorbis_sections(s):
        v["pairs"] = [p for p in v["pairs"] if p.split("=", 1)[0].upper() != vorbis_key]
    flac = s.get("flac")
    if (
        flac
        and flac["vorbis"] is not None
        and not flac["vorbis"]["pairs"]
        and flac["vorbis"]["vendor"] == TAGGER_VENDOR
    ):  # a comment block made for the genre
        flac["vorbis"] = None
        flac["blocks"] = [b for b in flac["blocks"] if b[0] != "VORBIS_COMMENT"]
    if "mp4" in s:
        s["mp4"]["items"] = [i for i in s["mp4"]["items"] if not ours_mp4(i)]
        if not s["mp4"]["items"]:  # an item list made for the genre, and the atoms around it
            s["mp4"]["atoms"] = _drop_genre_only_meta(s["mp4"]["atoms"])
    if "asf" in s:
        for key, attrs in s["asf"]["attributes"].items():
            s["asf"]["attributes"][key] = [a for a in attrs if a[0] != asf_key]
    return s


TAGGER_VENDOR = (6).to_bytes(4, "little").hex() + b"tagger".hex()


def _drop_genre_only_meta(node):
    if isinstance(node, list):
        out = []
        for child in node:
            if (
                isinstance(child, tuple)
                and child[0] == "meta"
                and [c[0] for c in child[2]] == ["hdlr", "ilst"]
                and not child[2][1][1]
            ):
                continue
            child = _drop_genre_only_meta(child)
            if isinstance(child, tuple) and child[0] == "udta" and child[1] == []:
                continue
            out.append(child)
        return out
    if isinstance(node, tuple):
        return tuple(_drop_genre_only_meta(x) for x in node)
    return node


def _vorbis_sections(s: dict) -> list[dict]:
    out = []
    if s.get("flac") and s["flac"]["vorbis"]:
        out.append(s["flac"]["vorbis"])
    for stream in s.get("ogg", {}).get("streams", []):
        if stream["vorbis"]:
            out.append(stream["vorbis"])
    return out


def genre_pairs(snap: dict) -> list[str]:
    return [
        p
        for v in _vorbis_sections(snap)
        for p in v["pairs"]
        if p.split("=", 1)[0].upper() == "GENRE"
    ]


def diff(a, b, where: str = "") -> str | None:
    """The first place two snapshots differ, in words; None if equal."""
    if type(a) is not type(b):
        return f"{where}: {a!r:.120} != {b!r:.120}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                return f"{where}.{k}: only in {'after' if k in b else 'before'}"
            d = diff(a[k], b[k], f"{where}.{k}")
            if d:
                return d
        return None
    if isinstance(a, (list, tuple)):
        for i, (x, y) in enumerate(zip(a, b)):
            d = diff(x, y, f"{where}[{i}]")
            if d:
                return d
        if len(a) != len(b):
            return f"{where}: {len(a)} items != {len(b)} items"
        return None
    return None if a == b else f"{where}: {a!r:.120} != {b!r:.120}"


def audio_samples(path: Path) -> np.ndarray:
    """Every decoded sample of the file (PyAV decodes all formats the same way twice)."""
    import av

    with av.open(str(path), metadata_errors="ignore") as c:
        return np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def raw_genre(path: Path) -> list[str]:
    """The genre straight from mutagen, without tagger's reader."""
    f = mutagen.File(path)
    tags = f.tags
    if path.suffix in (".mp3", ".wav", ".aiff"):
        return list(tags["TCON"].text) if tags and "TCON" in tags else []
    key = {".m4a": "\xa9gen", ".wma": "WM/Genre"}.get(path.suffix, "genre")
    return [str(v) for v in tags.get(key, [])] if tags else []
